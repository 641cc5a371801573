/* host_tokens.c - per-host bearer tokens, see host_tokens.h */
#include "host_tokens.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOST_TOKENS_FILE_MAX (4 << 20)

bool host_tokens_is_placeholder(const char *token)
{
	return !strcasecmp(token, COLLECTOR_PLACEHOLDER_TOKEN);
}

static int by_host(const void *a, const void *b)
{
	return strcmp(((const struct host_token *)a)->host, ((const struct host_token *)b)->host);
}

static int by_token(const void *a, const void *b)
{
	const struct host_token *x = *(const struct host_token *const *)a;
	const struct host_token *y = *(const struct host_token *const *)b;

	return strcmp(x->token, y->token);
}

/* One "HOST TOKEN" line (already without its newline) into e; 1 when the
 * line is blank or a comment, 0 when e was filled, -EINVAL with err. */
static int parse_line(char *line, const char *name, int lineno, struct host_token *e, char *err,
		      size_t errlen)
{
	char *save = NULL, *host = strtok_r(line, " \t\r", &save);
	char *token = host ? strtok_r(NULL, " \t\r", &save) : NULL;
	char *extra = token ? strtok_r(NULL, " \t\r", &save) : NULL;

	if (!host || host[0] == '#')
		return 1;
	if (!token || extra) {
		snprintf(err, errlen, "%s:%d: expected 'HOST TOKEN'", name, lineno);
		return -EINVAL;
	}
	if (strlen(host) >= sizeof(e->host) || strlen(token) >= sizeof(e->token)) {
		snprintf(err, errlen, "%s:%d: host name over %zu or token over %zu bytes", name,
			 lineno, sizeof(e->host) - 1, sizeof(e->token) - 1);
		return -EINVAL;
	}
	if (host_tokens_is_placeholder(token)) {
		snprintf(err, errlen, "%s:%d: the token of %s is the placeholder '%s' of the "
			 "examples, not a secret; set one of your own (e.g. openssl rand -hex 16)",
			 name, lineno, host, COLLECTOR_PLACEHOLDER_TOKEN);
		return -EINVAL;
	}
	snprintf(e->host, sizeof(e->host), "%s", host);
	snprintf(e->token, sizeof(e->token), "%s", token);
	return 0;
}

/* Each host once, each token for one host only (else it names no host). */
static int check_unique(struct host_tokens *t, const char *name, char *err, size_t errlen)
{
	const struct host_token **p;
	int rc = 0;

	if (t->n < 2)
		return 0;	/* nothing to compare (and qsort must not get a NULL array) */
	qsort(t->v, t->n, sizeof(*t->v), by_host);
	for (size_t k = 1; k < t->n; k++) {
		if (!strcmp(t->v[k - 1].host, t->v[k].host)) {
			snprintf(err, errlen, "%s: host %s has more than one token", name,
				 t->v[k].host);
			return -EINVAL;
		}
	}
	if (!(p = malloc((t->n ? t->n : 1) * sizeof(*p))))
		return -ENOMEM;
	for (size_t k = 0; k < t->n; k++)
		p[k] = &t->v[k];
	qsort(p, t->n, sizeof(*p), by_token);
	for (size_t k = 1; k < t->n && !rc; k++) {
		if (!strcmp(p[k - 1]->token, p[k]->token)) {
			snprintf(err, errlen, "%s: hosts %s and %s have the same token; give each "
				 "host its own", name, p[k - 1]->host, p[k]->host);
			rc = -EINVAL;
		}
	}
	free(p);
	return rc;
}

int host_tokens_parse(const char *text, const char *name, struct host_tokens *out, char *err,
		      size_t errlen)
{
	struct host_tokens t = { NULL, 0 };
	size_t cap = 0;
	char *copy = strdup(text), *line;
	int lineno = 0, rc = 0;

	*out = (struct host_tokens){ NULL, 0 };
	if (!copy)
		return -ENOMEM;
	for (char *p = copy; (line = strsep(&p, "\n")) && !rc;) {
		struct host_token e;

		lineno++;
		if ((rc = parse_line(line, name, lineno, &e, err, errlen)) != 0) {
			rc = rc > 0 ? 0 : rc;
			continue;
		}
		if (t.n == cap) {
			struct host_token *v = realloc(t.v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!v) {
				rc = -ENOMEM;
				break;
			}
			t.v = v;
		}
		t.v[t.n++] = e;
	}
	free(copy);
	if (!rc)
		rc = check_unique(&t, name, err, errlen);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", name);
	if (rc)
		host_tokens_free(&t);
	else
		*out = t;
	return rc;
}

/* The whole file into a malloc'ed string, after checking who may read it. */
static int read_file(const char *path, char **text, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	struct stat st;
	ssize_t got = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_mode & S_IROTH) {
		snprintf(err, errlen, "%s: holds bearer tokens but is readable by everyone "
			 "(mode %04o); run 'chmod o-r %s'", path, st.st_mode & 07777, path);
		rc = -EPERM;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > HOST_TOKENS_FILE_MAX) {
		snprintf(err, errlen, "%s: not a regular file of at most %d bytes", path,
			 HOST_TOKENS_FILE_MAX);
		rc = -EINVAL;
		goto out;
	}
	if (!(*text = calloc(1, (size_t)st.st_size + 1))) {
		snprintf(err, errlen, "%s: out of memory", path);
		rc = -ENOMEM;
		goto out;
	}
	while (got < st.st_size) {
		ssize_t r = read(fd, *text + got, (size_t)(st.st_size - got));

		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			snprintf(err, errlen, "%s: read: %s", path, r < 0 ? strerror(errno)
									 : "file shrank");
			free(*text);
			*text = NULL;
			break;
		}
		got += r;
	}
	if (*text && strlen(*text) != (size_t)got) {
		snprintf(err, errlen, "%s: not a text file (a NUL byte)", path);
		free(*text);
		*text = NULL;
		rc = -EINVAL;
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int host_tokens_load(const char *path, struct host_tokens *out, char *err, size_t errlen)
{
	char *text = NULL;
	int rc = read_file(path, &text, err, errlen);

	*out = (struct host_tokens){ NULL, 0 };
	if (rc < 0)
		return rc;
	rc = host_tokens_parse(text, path, out, err, errlen);
	free(text);
	return rc;
}

const struct host_token *host_tokens_find(const struct host_tokens *t, const char *host)
{
	struct host_token key;

	if (!t->n || strlen(host) >= sizeof(key.host))
		return NULL;
	snprintf(key.host, sizeof(key.host), "%s", host);
	return bsearch(&key, t->v, t->n, sizeof(*t->v), by_host);
}

void host_tokens_free(struct host_tokens *t)
{
	free(t->v);
	*t = (struct host_tokens){ NULL, 0 };
}
