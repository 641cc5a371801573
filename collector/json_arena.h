/* json_arena.h - jansson allocations from a per-thread bump arena.
 *
 * Parsing a 1.5 KB report or rendering one host of the fleet view makes a
 * few hundred small jansson allocations that are all freed together; with
 * malloc/free they were a sixth of the ingest CPU and a fifth of the fleet
 * rendering. Between json_arena_begin() and json_arena_end() jansson
 * allocates from this thread's 256 KiB arena (malloc once it is full);
 * every jansson value allocated inside must be freed before the end.
 * Outside, jansson uses malloc/free as usual. */
#ifndef FLEETCLOCK_JSON_ARENA_H
#define FLEETCLOCK_JSON_ARENA_H

/* Make jansson allocate through the arena functions (process-wide; call
 * once before any jansson use by other threads). */
void json_arena_install(void);

/* Start allocating from this thread's arena. */
void json_arena_begin(void);

/* Stop, and forget everything allocated since json_arena_begin. */
void json_arena_end(void);

#endif
