/* spool.c - see spool.h. */
#include "report/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

struct entry {
	uint64_t seq;
	size_t size;
	char *mem;		/* the document when kept in memory; NULL: on disk */
};

struct spool {
	char dir[256];
	size_t max_count, max_bytes;
	struct entry *e;	/* e[head .. head + n - 1], oldest first */
	size_t head, n, cap, bytes;
	size_t mem_n, mem_bytes;
	uint64_t next_seq, dropped;
	uint64_t stuck[SPOOL_STUCK_MAX];	/* ring of sent files not yet removed */
	size_t stuck_head, stuck_n;
	bool failing;		/* the directory's last write failed */
	char error[400];
	struct log_ratelimit rl_full, rl_unlink;
};

static void file_name(const struct spool *s, uint64_t seq, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%016" PRIu64 ".json", s->dir, seq);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int add_entry(struct spool *s, uint64_t seq, size_t size, char *mem)
{
	if (s->head + s->n == s->cap) {
		if (s->head > 0) {	/* compact */
			memmove(s->e, s->e + s->head, s->n * sizeof(*s->e));
			s->head = 0;
		} else {
			size_t cap = s->cap ? s->cap * 2 : 64;
			struct entry *e = realloc(s->e, cap * sizeof(*e));

			if (!e)
				return -ENOMEM;
			s->e = e;
			s->cap = cap;
		}
	}
	s->e[s->head + s->n++] = (struct entry){ seq, size, mem };
	s->bytes += size;
	if (mem) {
		s->mem_n++;
		s->mem_bytes += size;
	}
	return 0;
}

/* Index the files already there (a previous run's queue); remove stale
 * temporary files. */
static int scan(struct spool *s, char *err, size_t errlen)
{
	DIR *d = opendir(s->dir);
	struct dirent *de;
	struct stat st;
	char path[512];
	uint64_t seq;
	int n, rc = 0;

	if (!d) {
		rc = -errno;
		snprintf(err, errlen, "spool %s: open directory: %s", s->dir, strerror(-rc));
		return rc;
	}
	while ((de = readdir(d)) && rc == 0) {
		snprintf(path, sizeof(path), "%s/%s", s->dir, de->d_name);
		if (!strncmp(de->d_name, ".tmp-", 5)) {
			unlink(path);
			continue;
		}
		if (sscanf(de->d_name, "%16" SCNu64 ".json%n", &seq, &n) != 1 ||
		    (size_t)n != strlen(de->d_name) || stat(path, &st) < 0)
			continue;
		rc = add_entry(s, seq, (size_t)st.st_size, NULL);
		if (seq >= s->next_seq)
			s->next_seq = seq + 1;
	}
	closedir(d);
	if (rc == 0 && s->n > 1)
		qsort(s->e + s->head, s->n, sizeof(*s->e), cmp_entry);
	return rc;
}

/* A failure of the medium, not of the configuration: the spool then keeps
 * documents in memory instead of refusing to run. */
static bool medium_fault(int rc)
{
	return rc == -EROFS || rc == -ENOSPC || rc == -EIO || rc == -EDQUOT;
}

/* The directory failed (what says what, rc the cause): log it once, when
 * the spool goes from disk to memory. */
static void set_failing(struct spool *s, const char *what, int rc)
{
	snprintf(s->error, sizeof(s->error), "spool %s: %s: %s%s", s->dir, what, strerror(-rc),
		 rc == -ENOSPC ? " (disk full)" : "");
	if (s->failing)
		return;
	s->failing = true;
	log_err("%s; keeping reports in memory (at most %zu, %u bytes) until it can be written",
		s->error, s->max_count, SPOOL_MEM_MAX_BYTES);
}

static void set_working(struct spool *s, size_t moved)
{
	if (!s->failing)
		return;
	s->failing = false;
	log_info("spool %s: writable again (was: %s); %zu reports kept in memory written to it",
		 s->dir, s->error, moved);
	s->error[0] = '\0';
}

int spool_open(const char *dir, size_t max_count, size_t max_bytes, struct spool **out,
	       char *err, size_t errlen)
{
	struct spool *s = calloc(1, sizeof(*s));
	int rc = 0;

	if (!s)
		return -ENOMEM;
	if (strlen(dir) >= sizeof(s->dir)) {
		snprintf(err, errlen, "spool %s: path too long", dir);
		free(s);
		return -ENAMETOOLONG;
	}
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->max_count = max_count ? max_count : 1;
	s->max_bytes = max_bytes;
	s->next_seq = 1;
	s->rl_full = (struct log_ratelimit)LOG_RATELIMIT_INIT(60);
	s->rl_unlink = (struct log_ratelimit)LOG_RATELIMIT_INIT(60);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "spool %s: create directory: %s", dir, strerror(-rc));
		if (medium_fault(rc))
			set_failing(s, "create directory", rc);
	}
	if (rc == 0 && (rc = scan(s, err, errlen)) < 0 && medium_fault(rc))
		set_failing(s, "open directory", rc);
	if (s->failing)
		rc = 0;
	if (rc < 0) {
		spool_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void spool_close(struct spool *s)
{
	if (!s)
		return;
	for (size_t i = s->head; i < s->head + s->n; i++)
		free(s->e[i].mem);
	free(s->e);
	free(s);
}

/* Try again to remove the files of sent documents, oldest first; stop at
 * the first that still fails. */
static void remove_stuck(struct spool *s)
{
	char path[512];

	while (s->stuck_n > 0) {
		file_name(s, s->stuck[s->stuck_head], path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			return;
		s->stuck_head = (s->stuck_head + 1) % SPOOL_STUCK_MAX;
		s->stuck_n--;
	}
}

static void add_stuck(struct spool *s, uint64_t seq, int rc, const char *path)
{
	if (s->stuck_n == SPOOL_STUCK_MAX) {	/* forget the oldest */
		s->stuck_head = (s->stuck_head + 1) % SPOOL_STUCK_MAX;
		s->stuck_n--;
	}
	s->stuck[(s->stuck_head + s->stuck_n++) % SPOOL_STUCK_MAX] = seq;
	log_ratelimited(&s->rl_unlink, LOG_ERR, "spool %s: cannot remove %s: %s (out of the "
			"queue all the same: never sent again by this process; removal retried, "
			"%zu waiting)", s->dir, path, strerror(-rc), s->stuck_n);
}

/* Take the oldest entry out of the index (its file, if any, stays). */
static struct entry take_head(struct spool *s)
{
	struct entry e = s->e[s->head];

	s->bytes -= e.size;
	if (e.mem) {
		s->mem_n--;
		s->mem_bytes -= e.size;
	}
	s->head++;
	s->n--;
	if (s->n == 0)
		s->head = 0;
	return e;
}

int spool_pop(struct spool *s)
{
	char path[512];
	struct entry e;
	int rc = 0;

	if (s->n == 0)
		return -ENOENT;
	e = take_head(s);
	if (e.mem) {
		free(e.mem);
		return 0;
	}
	remove_stuck(s);
	file_name(s, e.seq, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT) {
		rc = -errno;
		add_stuck(s, e.seq, rc, path);
	}
	return rc;
}

/* Remove the oldest document kept in memory (not necessarily the head). */
static void drop_oldest_memory(struct spool *s)
{
	size_t i = s->head, end = s->head + s->n;

	while (i < end && !s->e[i].mem)
		i++;
	if (i == end)
		return;
	s->mem_bytes -= s->e[i].size;
	s->bytes -= s->e[i].size;
	s->mem_n--;
	free(s->e[i].mem);
	memmove(s->e + i, s->e + i + 1, (end - i - 1) * sizeof(*s->e));
	s->n--;
}

/* Drop the oldest until one more document of len bytes fits; in memory,
 * also until it fits SPOOL_MEM_MAX_BYTES (the oldest kept in memory go). */
static void make_room(struct spool *s, size_t len, bool in_memory)
{
	uint64_t dropped = 0;

	while (s->n > 0 && (s->n + 1 > s->max_count || s->bytes + len > s->max_bytes)) {
		spool_pop(s);
		dropped++;
	}
	while (in_memory && s->mem_n > 0 && s->mem_bytes + len > SPOOL_MEM_MAX_BYTES) {
		drop_oldest_memory(s);
		dropped++;
	}
	if (dropped) {
		s->dropped += dropped;
		log_ratelimited(&s->rl_full, LOG_WARNING, "spool %s: full (%zu documents, %zu bytes "
				"max; %u bytes in memory): dropped the %" PRIu64 " oldest (%" PRIu64
				" since start)", s->dir, s->max_count, s->max_bytes,
				SPOOL_MEM_MAX_BYTES, dropped, s->dropped);
	}
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Write one document as file seq: temporary name, fsync, rename. Returns 0
 * or -errno with what naming the step that failed. */
static int write_file(struct spool *s, uint64_t seq, const char *doc, size_t len,
		      const char **what)
{
	char tmp[512], path[512];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s/.tmp-%016" PRIu64, s->dir, seq);
	file_name(s, seq, path, sizeof(path));
	*what = "create a file";
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	*what = "write a report";
	rc = write_all(fd, doc, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* The directory takes writes again: move the documents kept in memory to
 * it, oldest first, under their own sequence numbers (the order survives a
 * restart). Returns 0 or the first failure. */
static int persist_memory(struct spool *s, const char **what)
{
	if (s->failing && mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
		*what = "create directory";	/* it could not be made at open */
		return -errno;
	}
	for (size_t i = s->head; s->mem_n > 0 && i < s->head + s->n; i++) {
		struct entry *e = &s->e[i];
		int rc;

		if (!e->mem)
			continue;
		rc = write_file(s, e->seq, e->mem, e->size, what);
		if (rc < 0)
			return rc;
		free(e->mem);
		e->mem = NULL;
		s->mem_n--;
		s->mem_bytes -= e->size;
	}
	return 0;
}

static int push_memory(struct spool *s, const char *doc, size_t len, char *err, size_t errlen)
{
	char *copy;

	make_room(s, len, true);
	copy = malloc(len + 1);
	if (!copy || add_entry(s, s->next_seq, len, copy) < 0) {
		free(copy);
		snprintf(err, errlen, "spool %s: out of memory", s->dir);
		return -ENOMEM;
	}
	memcpy(copy, doc, len);
	copy[len] = '\0';
	s->next_seq++;
	return 0;
}

int spool_push(struct spool *s, const char *doc, size_t len, char *err, size_t errlen)
{
	const char *what = "";
	size_t in_memory = s->mem_n;
	int rc;

	if (len > s->max_bytes || len > SPOOL_MEM_MAX_BYTES) {
		snprintf(err, errlen, "spool %s: a %zu-byte document exceeds max_bytes %zu", s->dir,
			 len, s->max_bytes);
		return -EFBIG;
	}
	remove_stuck(s);
	rc = persist_memory(s, &what);
	if (rc == 0) {
		make_room(s, len, false);
		rc = write_file(s, s->next_seq, doc, len, &what);
	}
	if (rc < 0) {
		set_failing(s, what, rc);
		return push_memory(s, doc, len, err, errlen);
	}
	set_working(s, in_memory);
	rc = add_entry(s, s->next_seq++, len, NULL);
	if (rc < 0)
		snprintf(err, errlen, "spool %s: out of memory", s->dir);
	return rc;
}

/* Read the file of the entry at the head into *doc. */
static int read_head(struct spool *s, char **doc, size_t *len, char *err, size_t errlen)
{
	char path[512], *buf;
	struct stat st;
	ssize_t r;
	int fd, rc;

	file_name(s, s->e[s->head].seq, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	rc = fd < 0 || fstat(fd, &st) < 0 ? -errno : st.st_size > 1 << 20 ? -EFBIG : 0;
	if (rc < 0) {
		snprintf(err, errlen, "spool %s: read %s: %s (dropped)", s->dir, path,
			 strerror(-rc));
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	r = buf ? read(fd, buf, (size_t)st.st_size) : -1;
	if (r != st.st_size) {
		rc = buf ? -EIO : -ENOMEM;
		snprintf(err, errlen, "spool %s: read %s: short read (dropped)", s->dir, path);
		free(buf);
		goto out;
	}
	buf[r] = '\0';
	*doc = buf;
	*len = (size_t)r;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int spool_peek(struct spool *s, char **doc, size_t *len, char *err, size_t errlen)
{
	const struct entry *e;
	int rc;

	if (s->n == 0)
		return -ENOENT;
	e = &s->e[s->head];
	if (e->mem) {
		*doc = malloc(e->size + 1);
		if (!*doc) {
			snprintf(err, errlen, "spool %s: out of memory", s->dir);
			return -ENOMEM;
		}
		memcpy(*doc, e->mem, e->size + 1);
		*len = e->size;
		return 0;
	}
	rc = read_head(s, doc, len, err, errlen);
	if (rc < 0)
		spool_pop(s);	/* out of the queue even if its file stays */
	return rc;
}

/* Whether the directory takes a file now (created and removed again). */
static bool writable(struct spool *s)
{
	char tmp[512];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.tmp-probe", s->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	close(fd);
	return unlink(tmp) == 0;
}

void spool_tidy(struct spool *s)
{
	const char *what = "";
	size_t n = s->mem_n;

	remove_stuck(s);
	if (s->failing && persist_memory(s, &what) == 0 && (n > 0 || writable(s)))
		set_working(s, n);
}

size_t spool_count(const struct spool *s)
{
	return s->n;
}

size_t spool_bytes(const struct spool *s)
{
	return s->bytes;
}

uint64_t spool_dropped(const struct spool *s)
{
	return s->dropped;
}

void spool_state(const struct spool *s, struct spool_state *st)
{
	*st = (struct spool_state){ .in_memory = s->failing, .count = s->n,
				    .mem_count = s->mem_n, .mem_bytes = s->mem_bytes,
				    .stuck = s->stuck_n, .dropped = s->dropped };
	snprintf(st->error, sizeof(st->error), "%.*s", (int)sizeof(st->error) - 1, s->error);
}
