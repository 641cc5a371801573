/* json_arena.c - see json_arena.h. */
#include "json_arena.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>

#define ARENA_SIZE (256 * 1024)

static __thread char arena_buf[ARENA_SIZE] __attribute__((aligned(16)));
static __thread size_t arena_used;
static __thread bool arena_on;

static void *arena_malloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (arena_on && n <= ARENA_SIZE - arena_used) {
		void *p = arena_buf + arena_used;

		arena_used += n;
		return p;
	}
	return malloc(n);
}

/* Arena memory is released all at once by json_arena_end. */
static void arena_free(void *p)
{
	if ((char *)p >= arena_buf && (char *)p < arena_buf + ARENA_SIZE)
		return;
	free(p);
}

void json_arena_install(void)
{
	json_set_alloc_funcs(arena_malloc, arena_free);
}

void json_arena_begin(void)
{
	arena_on = true;
	arena_used = 0;
}

void json_arena_end(void)
{
	arena_on = false;
	arena_used = 0;
}
