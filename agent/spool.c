/* spool.c - see spool.h. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

struct entry {
	uint64_t seq;
	size_t size;
};

struct spool {
	char dir[256];
	size_t max_count, max_bytes;
	struct entry *e;	/* e[head .. head + n - 1], oldest first */
	size_t head, n, cap, bytes;
	uint64_t next_seq, dropped;
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

static int add_entry(struct spool *s, uint64_t seq, size_t size)
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
	s->e[s->head + s->n++] = (struct entry){ seq, size };
	s->bytes += size;
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
		snprintf(err, errlen, "spool %s: open directory: %s", s->dir, strerror(errno));
		return -errno;
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
		rc = add_entry(s, seq, (size_t)st.st_size);
		if (seq >= s->next_seq)
			s->next_seq = seq + 1;
	}
	closedir(d);
	if (rc == 0 && s->n > 1)
		qsort(s->e + s->head, s->n, sizeof(*s->e), cmp_entry);
	return rc;
}

int spool_open(const char *dir, size_t max_count, size_t max_bytes, struct spool **out,
	       char *err, size_t errlen)
{
	struct spool *s = calloc(1, sizeof(*s));
	int rc;

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
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "spool %s: create directory: %s", dir, strerror(errno));
		free(s);
		return -errno;
	}
	rc = scan(s, err, errlen);
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
	free(s->e);
	free(s);
}

int spool_pop(struct spool *s)
{
	char path[512];

	if (s->n == 0)
		return -ENOENT;
	file_name(s, s->e[s->head].seq, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	s->bytes -= s->e[s->head].size;
	s->head++;
	s->n--;
	if (s->n == 0)
		s->head = 0;
	return 0;
}

/* Drop the oldest until one more document of len bytes fits. */
static void make_room(struct spool *s, size_t len)
{
	uint64_t dropped = 0;

	while (s->n > 0 && (s->n + 1 > s->max_count || s->bytes + len > s->max_bytes)) {
		if (spool_pop(s) < 0)
			break;
		dropped++;
	}
	if (dropped) {
		s->dropped += dropped;
		log_warn("spool %s: full (%zu documents, %zu bytes max): dropped the %" PRIu64
			 " oldest (%" PRIu64 " since start)", s->dir, s->max_count, s->max_bytes,
			 dropped, s->dropped);
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

int spool_push(struct spool *s, const char *doc, size_t len, char *err, size_t errlen)
{
	char tmp[512], path[512];
	int fd, rc;

	if (len > s->max_bytes) {
		snprintf(err, errlen, "spool %s: a %zu-byte document exceeds max_bytes %zu", s->dir,
			 len, s->max_bytes);
		return -EFBIG;
	}
	make_room(s, len);
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%016" PRIu64, s->dir, s->next_seq);
	file_name(s, s->next_seq, path, sizeof(path));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "spool %s: create: %s", tmp, strerror(-rc));
		return rc;
	}
	rc = write_all(fd, doc, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		snprintf(err, errlen, "spool %s: write %s: %s%s", s->dir, path, strerror(-rc),
			 rc == -ENOSPC ? " (disk full: this report is lost, the queue is kept)" : "");
		unlink(tmp);
		return rc;
	}
	rc = add_entry(s, s->next_seq++, len);
	if (rc < 0)
		snprintf(err, errlen, "spool %s: out of memory", s->dir);
	return rc;
}

int spool_peek(struct spool *s, char **doc, size_t *len, char *err, size_t errlen)
{
	char path[512], *buf;
	struct stat st;
	ssize_t r;
	int fd, rc;

	if (s->n == 0)
		return -ENOENT;
	file_name(s, s->e[s->head].seq, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	rc = fd < 0 || fstat(fd, &st) < 0 ? -errno : st.st_size > 1 << 20 ? -EFBIG : 0;
	if (rc < 0) {
		snprintf(err, errlen, "spool %s: read %s: %s (dropped)", s->dir, path,
			 strerror(-rc));
		goto bad;
	}
	buf = malloc((size_t)st.st_size + 1);
	r = buf ? read(fd, buf, (size_t)st.st_size) : -1;
	if (r != st.st_size) {
		rc = buf ? -EIO : -ENOMEM;
		snprintf(err, errlen, "spool %s: read %s: short read (dropped)", s->dir, path);
		free(buf);
		goto bad;
	}
	close(fd);
	buf[r] = '\0';
	*doc = buf;
	*len = (size_t)r;
	return 0;
bad:
	if (fd >= 0)
		close(fd);
	spool_pop(s);
	return rc;
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
