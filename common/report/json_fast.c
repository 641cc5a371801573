/* json_fast.c - see json_fast.h. Grammar: RFC 8259; every path that is not
 * plainly valid returns NULL and leaves the input to jansson. */
#include "report/json_fast.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NUMBER_MAX 40		/* characters of a number decoded here */
#define INT_DIGITS_MAX 18	/* fit in json_int_t without an overflow check */

struct scan {
	const char *p, *end;
	int depth;
};

static json_t *value(struct scan *s);

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

/* After the opening quote: the contents up to the closing quote, if they
 * are printable ASCII without a backslash (anything else: jansson). */
static int string_span(struct scan *s, const char **start, size_t *n)
{
	for (const char *q = s->p; q < s->end; q++) {
		unsigned char c = (unsigned char)*q;

		if (c == '"') {
			*start = s->p;
			*n = (size_t)(q - s->p);
			s->p = q + 1;
			return 0;
		}
		if (c < 0x20 || c >= 0x80 || c == '\\')
			return -1;
	}
	return -1;
}

static const char *digits(const char *q, const char *end)
{
	while (q < end && is_digit(*q))
		q++;
	return q;
}

static json_t *number(struct scan *s)
{
	const char *start = s->p, *q = s->p, *end = s->end;
	bool neg = false, real = false;
	char tmp[NUMBER_MAX + 1], *e;
	size_t n;
	double d;

	if (q < end && *q == '-') {
		neg = true;
		q++;
	}
	if (q < end && *q == '0')
		q++;
	else if (q < end && *q >= '1' && *q <= '9')
		q = digits(q, end);
	else
		return NULL;
	if (q < end && *q == '.') {
		real = true;
		if (++q >= end || !is_digit(*q))
			return NULL;
		q = digits(q, end);
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		real = true;
		if (++q < end && (*q == '+' || *q == '-'))
			q++;
		if (q >= end || !is_digit(*q))
			return NULL;
		q = digits(q, end);
	}
	n = (size_t)(q - start);
	if (n > NUMBER_MAX)
		return NULL;
	s->p = q;
	if (!real) {
		json_int_t v = 0;

		if (n - neg > INT_DIGITS_MAX)
			return NULL;
		for (const char *c = start + neg; c < q; c++)
			v = v * 10 + (*c - '0');
		return json_integer(neg ? -v : v);
	}
	memcpy(tmp, start, n);
	tmp[n] = '\0';
	errno = 0;
	d = strtod(tmp, &e);
	/* the whole lexeme (not so under a locale with another decimal point),
	 * and no overflow or underflow: jansson's own rules for those */
	if (e != tmp + n || errno == ERANGE || !isfinite(d))
		return NULL;
	return json_real(d);
}

static bool literal(struct scan *s, const char *word, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n))
		return false;
	s->p += n;
	return true;
}

static json_t *object(struct scan *s)
{
	json_t *obj = json_object(), *v;
	const char *key;
	size_t klen;

	if (!obj)
		return NULL;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return obj;
	}
	for (;;) {
		if (s->p >= s->end || *s->p != '"')
			break;
		s->p++;
		if (string_span(s, &key, &klen) < 0 || json_object_getn(obj, key, klen))
			break;	/* duplicate keys: jansson names the error */
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			break;
		s->p++;
		if (!(v = value(s)) || json_object_setn_new_nocheck(obj, key, klen, v) < 0)
			break;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			skip_ws(s);
			continue;
		}
		if (s->p < s->end && *s->p == '}') {
			s->p++;
			return obj;
		}
		break;
	}
	json_decref(obj);
	return NULL;
}

static json_t *array(struct scan *s)
{
	json_t *arr = json_array(), *v;

	if (!arr)
		return NULL;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return arr;
	}
	for (;;) {
		if (!(v = value(s)) || json_array_append_new(arr, v) < 0)
			break;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == ']') {
			s->p++;
			return arr;
		}
		break;
	}
	json_decref(arr);
	return NULL;
}

static json_t *value(struct scan *s)
{
	const char *str;
	json_t *v = NULL;
	size_t n;

	skip_ws(s);
	if (s->p >= s->end)
		return NULL;
	switch (*s->p) {
	case '{':
	case '[':
		if (s->depth >= JSON_FAST_MAX_DEPTH)
			return NULL;
		s->depth++;
		s->p++;
		v = *(s->p - 1) == '{' ? object(s) : array(s);
		s->depth--;
		return v;
	case '"':
		s->p++;
		return string_span(s, &str, &n) < 0 ? NULL : json_stringn_nocheck(str, n);
	case 't':
		return literal(s, "true", 4) ? json_true() : NULL;
	case 'f':
		return literal(s, "false", 5) ? json_false() : NULL;
	case 'n':
		return literal(s, "null", 4) ? json_null() : NULL;
	default:
		return number(s);
	}
}

json_t *json_fast_loadb(const char *buf, size_t len)
{
	struct scan s = { buf, buf + len, 0 };
	json_t *v;

	if (!buf)
		return NULL;
	skip_ws(&s);
	/* jansson's default: the top level is an object or an array */
	if (s.p >= s.end || (*s.p != '{' && *s.p != '['))
		return NULL;
	v = value(&s);
	skip_ws(&s);
	if (v && s.p != s.end) {
		json_decref(v);
		return NULL;
	}
	return v;
}
