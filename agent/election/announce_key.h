/* announce_key.h - the fleet key from its file: the one I/O of the
 * announce codec (announce.h), kept apart so that the codec stays pure. */
#ifndef FLEETCLOCK_ANNOUNCE_KEY_H
#define FLEETCLOCK_ANNOUNCE_KEY_H

#include <stddef.h>

#include "election/announce.h"

/* Load the fleet key: hex text (whitespace ignored), 16-64 bytes. The file
 * must be a regular file owned by root (or by the caller) and not
 * readable or writable by group or others. 0, or -errno with err naming
 * the file and the cause. */
int announce_key_load(const char *path, struct announce_key *key, char *err, size_t errlen);

#endif
