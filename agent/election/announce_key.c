/* announce_key.c - load the fleet key, see announce_key.h. */
#include "election/announce_key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "election/crypto_dl.h"

int announce_key_load(const char *path, struct announce_key *key, char *err, size_t errlen)
{
	char text[4 * ANNOUNCE_KEY_MAX + 1];
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: open fleet key: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: fleet key is not a regular file", path);
		goto out;
	}
	/* Root may read a key the daemon's user owns (the roles install it so,
	 * and an operator runs --elect as root): only the mode protects it. */
	if ((geteuid() != 0 && st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 077)) {
		rc = -EPERM;
		snprintf(err, errlen, "%s: fleet key must be owned by root or the running user, mode "
			 "0600 or stricter (is uid %u mode %04o)", path, (unsigned)st.st_uid,
			 (unsigned)(st.st_mode & 07777));
		goto out;
	}
	n = read(fd, text, sizeof(text) - 1);
	if (n < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: read fleet key: %s", path, strerror(errno));
		goto out;
	}
	text[n] = '\0';
	if (announce_key_from_hex(text, key) < 0) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: fleet key must be %d-%d bytes as hex", path,
			 ANNOUNCE_KEY_MIN, ANNOUNCE_KEY_MAX);
	}
out:
	crypto_dl_cleanse(text, sizeof(text));
	close(fd);
	return rc;
}
