/* http.c - the collector's HTTP server, see http.h. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_arena.h"
#include "base/log.h"
#include "metrics_election.h"
#include "starts.h"
#include "time/timeutil.h"
#include "views.h"

#define HISTORY_MAX_POINTS 10000
#define HTTP_422 422	/* MHD_HTTP_UNPROCESSABLE_CONTENT in newer versions */
#define HTTP_413 413	/* HTTP_413, named differently across versions */
#define HTTP_415 415	/* unsupported media type */

extern const char collector_dashboard_html[];	/* generated from dashboard.html */

struct http_server {
	struct MHD_Daemon *d;
	struct store *store;
	const struct collector_config *cfg;
	char token_copy[sizeof(((struct collector_config *)0)->tokens)];
	const char *tokens[COLLECTOR_MAX_TOKENS];
	int n_tokens;
	struct views_counters counters;	/* updated with __atomic builtins */
	/* Slow-client guard: every open connection, and when its current
	 * request started; a sweeper shuts down the ones that take longer than
	 * request_timeout_s to send a request (slowloris). */
	pthread_mutex_t conns_lock;
	struct conn_track *conns;
	pthread_t sweeper;
	bool sweeper_started, stopping;
	pthread_cond_t stop_cond;
	unsigned long slow_closed;
	/* The rendered fleet view, reused for fleet_cache_ms (10,000 hosts take
	 * tens of milliseconds to render; dashboards and scrapers poll it). */
	pthread_mutex_t fleet_lock;
	struct MHD_Response *fleet_resp;
	double fleet_at;
	pthread_mutex_t render_lock;	/* one fleet render at a time, with its cache */
	struct views_cache frags;
	struct metrics_master master;	/* the elected master, from stored reports */
	struct starts *starts;		/* start records (starts.c) */
};

struct conn_track {
	struct conn_track *prev, *next;
	int fd;
	double start;		/* CLOCK_MONOTONIC: connected or last response sent */
	bool busy;		/* waiting for the store: not the client's fault */
};

enum route { R_STATUS = 1, R_FLEET, R_HISTORY, R_METRICS, R_DASHBOARD, R_STARTS };

/* Who a POST's bearer token says the sender is. */
enum auth {
	AUTH_NONE,	/* no or unknown token: 401 */
	AUTH_ANY,	/* a fleet token, or no authentication configured: any host */
	AUTH_HOST,	/* maybe a host's token: checked against the report's host */
};

/* One POST /api/v1/status in flight. */
struct request {
	enum route route;
	bool ingest;		/* a POST with a body: a status report or a start record */
	enum auth auth;
	char *token;		/* AUTH_HOST: the token presented */
	char *body;
	size_t len;
	bool too_large;
	pthread_mutex_t lock;	/* done, rc, suspended: shared with the store's writer */
	bool submitted, done, suspended;
	int rc;
	struct MHD_Connection *conn;
	struct http_server *srv;
	struct status_info info;	/* the report, once validated */
};

/* status_parse with its jansson allocations in this thread's arena. */
static int parse_in_arena(const char *buf, size_t len, struct status_info *info, char *err,
			  size_t errlen)
{
	int rc;

	json_arena_begin();
	rc = status_parse(buf, len, info, NULL, err, errlen);	/* frees the tree itself */
	json_arena_end();
	return rc;
}

static void count(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

bool http_token_equal(const char *given, size_t given_len, const char *want)
{
	size_t want_len = strlen(want);
	unsigned char diff = given_len != want_len;

	for (size_t i = 0; i < want_len; i++)
		diff |= (unsigned char)(want[i] ^ (i < given_len ? given[i] : 0));
	return diff == 0;
}

static bool any_auth_configured(const struct http_server *srv)
{
	return srv->n_tokens > 0 || srv->cfg->host_tokens.n > 0;
}

/* The bearer token of the request, or NULL. */
static const char *bearer_of(struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);

	return h && !strncmp(h, "Bearer ", 7) ? h + 7 : NULL;
}

/* First look at the token, before the body: a fleet token may write any
 * host; any other token can only be a host's, known once the body says
 * which host (check_host_token). */
static enum auth authorise(struct http_server *srv, struct MHD_Connection *conn)
{
	const char *t = bearer_of(conn);
	bool ok = false;

	if (!any_auth_configured(srv))
		return AUTH_ANY;
	if (!t)
		return AUTH_NONE;
	for (int i = 0; i < srv->n_tokens; i++)
		ok |= http_token_equal(t, strlen(t), srv->tokens[i]);
	if (ok)
		return AUTH_ANY;
	return srv->cfg->host_tokens.n && strlen(t) < HOST_TOKEN_MAX ? AUTH_HOST : AUTH_NONE;
}

/* A host token against the report's host: 0 when it is that host's token,
 * 403 when it is another host's, 401 when it is nobody's. The host's entry
 * is found by name (public), then its token compared in constant time; the
 * scan of the others runs only for a refused report. */
static unsigned check_host_token(const struct host_tokens *ht, const char *host,
				 const char *token)
{
	const struct host_token *mine = host_tokens_find(ht, host);
	size_t len = strlen(token);
	bool other = false;

	if (mine && http_token_equal(token, len, mine->token))
		return 0;
	for (size_t k = 0; k < ht->n; k++)
		other |= http_token_equal(token, len, ht->v[k].token);
	return other ? MHD_HTTP_FORBIDDEN : MHD_HTTP_UNAUTHORIZED;
}

bool http_is_json_type(const char *v)
{
	static const char json[] = "application/json";

	if (!v)
		return false;
	v += strspn(v, " \t");
	if (strncasecmp(v, json, sizeof(json) - 1))
		return false;
	v += sizeof(json) - 1;
	v += strspn(v, " \t");
	return *v == '\0' || *v == ';';
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned code, char *body,
			       const char *type, const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(body ? strlen(body) : 0, body,
					    body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (body && type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* An error answer: {"status": code, "error": message}. */
static enum MHD_Result respond_error(struct MHD_Connection *conn, unsigned code, const char *msg,
				     const char *allow)
{
	json_t *j = json_pack("{s:i, s:s}", "status", (int)code, "error", msg);
	char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (body) {
		size_t n = strlen(body);
		char *nl = realloc(body, n + 2);

		if (nl) {
			body = nl;
			memcpy(body + n, "\n", 2);
		}
	}
	return respond(conn, code, body, "application/json", allow);
}

static enum route route_of(const char *url)
{
	size_t n = strlen(url);

	if (!strcmp(url, "/api/v1/status"))
		return R_STATUS;
	if (!strcmp(url, "/api/v1/fleet"))
		return R_FLEET;
	if (!strcmp(url, "/metrics"))
		return R_METRICS;
	if (!strcmp(url, "/api/v1/starts"))
		return R_STARTS;
	if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
		return R_DASHBOARD;
	if (!strncmp(url, "/api/v1/hosts/", 14) && n > 14 + 8 && !strcmp(url + n - 8, "/history"))
		return R_HISTORY;
	return 0;
}

static struct views_params params_now(struct http_server *srv)
{
	return (struct views_params){ timeutil_now(CLOCK_REALTIME), srv->cfg->budget_ms / 1000.0,
				      srv->cfg->stale_after_s, srv->cfg->max_clock_skew_s };
}

/* Answer from the cached fleet view if it is recent enough. */
static bool fleet_cached(struct http_server *srv, struct MHD_Connection *conn,
			 enum MHD_Result *ret)
{
	bool hit;

	pthread_mutex_lock(&srv->fleet_lock);
	hit = srv->fleet_resp &&
	      timeutil_now(CLOCK_MONOTONIC) - srv->fleet_at < srv->cfg->fleet_cache_ms / 1000.0;
	if (hit)
		*ret = MHD_queue_response(conn, MHD_HTTP_OK, srv->fleet_resp);
	pthread_mutex_unlock(&srv->fleet_lock);
	return hit;
}

/* Send a freshly rendered fleet view and keep it for the next requests. */
static enum MHD_Result respond_fleet(struct http_server *srv, struct MHD_Connection *conn,
				     char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body,
								 MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	pthread_mutex_lock(&srv->fleet_lock);
	if (srv->fleet_resp)
		MHD_destroy_response(srv->fleet_resp);	/* freed once no connection uses it */
	srv->fleet_resp = srv->cfg->fleet_cache_ms > 0 ? r : NULL;
	srv->fleet_at = timeutil_now(CLOCK_MONOTONIC);
	pthread_mutex_unlock(&srv->fleet_lock);
	if (srv->cfg->fleet_cache_ms <= 0)
		MHD_destroy_response(r);
	return ret;
}

static char *starts_append_metrics(struct http_server *srv, const struct store_latest *rows,
				   size_t n, char *body);

static enum MHD_Result get_fleet_or_metrics(struct http_server *srv, struct MHD_Connection *conn,
					    enum route route)
{
	struct store_latest *rows = NULL;
	struct views_params p = params_now(srv);
	struct views_counters c;
	struct metrics_master_view mv;
	struct store_stats st;
	enum MHD_Result ret;
	size_t n = 0;
	char *body;

	if (route == R_FLEET && fleet_cached(srv, conn, &ret))
		return ret;
	if (store_latest_all(srv->store, &rows, &n) < 0)
		return respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database read failed", NULL);
	if (route == R_FLEET) {
		pthread_mutex_lock(&srv->render_lock);
		body = views_fleet_json(rows, n, &p, &srv->frags);
		pthread_mutex_unlock(&srv->render_lock);
		free(rows);
		return body ? respond_fleet(srv, conn, body)
			    : respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
	}
	store_get_stats(srv->store, &st);
	c.bad_json = __atomic_load_n(&srv->counters.bad_json, __ATOMIC_RELAXED);
	c.bad_schema = __atomic_load_n(&srv->counters.bad_schema, __ATOMIC_RELAXED);
	c.unauthorized = __atomic_load_n(&srv->counters.unauthorized, __ATOMIC_RELAXED);
	c.forbidden = __atomic_load_n(&srv->counters.forbidden, __ATOMIC_RELAXED);
	c.bad_type = __atomic_load_n(&srv->counters.bad_type, __ATOMIC_RELAXED);
	c.too_large = __atomic_load_n(&srv->counters.too_large, __ATOMIC_RELAXED);
	c.accepted = st.stored;
	c.duplicates = st.duplicates;
	c.store_failed = st.failed;
	c.batches = st.batches;
	metrics_master_get(&srv->master, p.now, p.stale_after_s, &mv);
	c.master = &mv;
	body = views_metrics(rows, n, &p, &c);
	body = starts_append_metrics(srv, rows, n, body);
	free(rows);
	return body ? respond(conn, MHD_HTTP_OK, body, "text/plain; version=0.0.4; charset=utf-8", NULL)
		    : respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
}

/* A time query argument: RFC 3339 or Unix seconds. */
static int time_arg(struct MHD_Connection *conn, const char *key, int64_t def, int64_t *us)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
	char *end;
	double s;

	if (!v || !*v) {
		*us = def;
		return 0;
	}
	if (status_parse_time(v, us) == 0)
		return 0;
	s = strtod(v, &end);
	if (*end || !(s >= 0 && s < 1e11))
		return -EINVAL;
	*us = (int64_t)(s * 1e6);
	return 0;
}

static enum MHD_Result get_history(struct http_server *srv, struct MHD_Connection *conn,
				   const char *url)
{
	char host[STATUS_HOST_MAX], msg[160];
	size_t hl = strlen(url) - 14 - 8, n = 0;
	int64_t now = (int64_t)(timeutil_now(CLOCK_REALTIME) * 1e6), since, until;
	struct store_point *pts = NULL;
	char *body;

	if (hl >= sizeof(host) || memchr(url + 14, '/', hl))
		return respond_error(conn, MHD_HTTP_NOT_FOUND, "no such host", NULL);
	memcpy(host, url + 14, hl);
	host[hl] = '\0';
	if (time_arg(conn, "until", now, &until) < 0 ||
	    time_arg(conn, "since", until - 3600 * 1000000LL, &since) < 0) {
		snprintf(msg, sizeof(msg), "since/until: expected RFC 3339 UTC or Unix seconds");
		return respond_error(conn, MHD_HTTP_BAD_REQUEST, msg, NULL);
	}
	if (store_history(srv->store, host, since, until, HISTORY_MAX_POINTS, &pts, &n) < 0)
		return respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database read failed", NULL);
	body = views_history_json(host, pts, n, since, until);
	free(pts);
	return body ? respond(conn, MHD_HTTP_OK, body, "application/json", NULL)
		    : respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
}

/* --- start records (starts.c): the hooks --- */

/* The hosts the collector knows, for the missing ones; borrows rows. */
static struct starts_known_host *known_hosts(const struct store_latest *rows, size_t n)
{
	struct starts_known_host *k = calloc(n ? n : 1, sizeof(*k));

	for (size_t i = 0; k && i < n; i++)
		k[i] = (struct starts_known_host){ rows[i].info.host, rows[i].info.role };
	return k;
}

/* /metrics: the start metrics after the rest. body is returned as it is
 * when they cannot be read (logged): the fleet's metrics still count. */
static char *starts_append_metrics(struct http_server *srv, const struct store_latest *rows,
				   size_t n, char *body)
{
	struct starts_known_host *k = body ? known_hosts(rows, n) : NULL;
	char *more = NULL, *all = NULL;
	int rc = k ? starts_render_metrics(srv->starts, k, n, &more) : -ENOMEM;

	if (body && rc < 0)
		log_warn("/metrics: start records: %s", strerror(-rc));
	if (rc == 0 && asprintf(&all, "%s%s", body, more) >= 0) {
		free(body);
		body = all;
	}
	free(more);
	free(k);
	return body;
}

static enum MHD_Result get_starts(struct http_server *srv, struct MHD_Connection *conn)
{
	const char *id = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "experiment");
	const char *lim = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
	long limit = lim && *lim ? strtol(lim, NULL, 10) : STARTS_LIST_DEFAULT;
	struct store_latest *rows = NULL;
	struct starts_known_host *k;
	char *body = NULL;
	size_t n = 0;
	int rc;

	if (id && !start_experiment_ok(id))
		return respond_error(conn, MHD_HTTP_BAD_REQUEST, "experiment: not a valid id", NULL);
	if (limit < 1 || limit > STARTS_LIST_MAX)
		return respond_error(conn, MHD_HTTP_BAD_REQUEST, "limit: expected 1 to 200", NULL);
	if (store_latest_all(srv->store, &rows, &n) < 0 || !(k = known_hosts(rows, n))) {
		free(rows);
		return respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database read failed", NULL);
	}
	rc = id ? starts_render_experiment(srv->starts, id, k, n, &body)
		: starts_render_list(srv->starts, (size_t)limit, k, n, &body);
	free(k);
	free(rows);
	if (rc == -ENOMEM)
		return respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
	return rc == 0 ? respond(conn, MHD_HTTP_OK, body, "application/json", NULL)
		       : respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database read failed", NULL);
}

/* POST /api/v1/starts, the whole body in: validate as a status report is
 * (400 JSON, 422 schema, the host's token), store, 204. */
static enum MHD_Result post_start(struct http_server *srv, struct request *r)
{
	struct start_record rec;
	char err[256], msg[320];
	unsigned code;
	int rc = start_record_parse(r->body ? r->body : "", r->len, &rec, err, sizeof(err));

	if (rc != START_OK) {
		count(rc == START_EJSON ? &srv->counters.bad_json : &srv->counters.bad_schema);
		return respond_error(r->conn, rc == START_EJSON ? MHD_HTTP_BAD_REQUEST : HTTP_422, err,
				     NULL);
	}
	if (r->auth == AUTH_HOST &&
	    (code = check_host_token(&srv->cfg->host_tokens, rec.host, r->token)) != 0) {
		count(code == MHD_HTTP_FORBIDDEN ? &srv->counters.forbidden
						 : &srv->counters.unauthorized);
		if (code == MHD_HTTP_UNAUTHORIZED)
			return respond_error(r->conn, code, "missing or wrong bearer token", NULL);
		snprintf(msg, sizeof(msg), "this token may not write start records of host '%s'",
			 rec.host);
		return respond_error(r->conn, code, msg, NULL);
	}
	rc = starts_put(srv->starts, &rec, r->body, r->len,
			(int64_t)(timeutil_now(CLOCK_REALTIME) * 1e6), err, sizeof(err));
	if (rc < 0) {
		log_err("%s", err);
		return respond_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				     "the start record could not be stored; retry later", NULL);
	}
	log_info("start record of %s for experiment %s: %s%s", rec.host, rec.experiment,
		 start_outcome_str(rec.outcome), rc == 1 ? " (duplicate)" : "");
	return respond(r->conn, MHD_HTTP_NO_CONTENT, NULL, NULL, NULL);
}

static enum MHD_Result get_route(struct http_server *srv, struct MHD_Connection *conn,
				 enum route route, const char *url)
{
	char *page;

	switch (route) {
	case R_FLEET:
	case R_METRICS:
		return get_fleet_or_metrics(srv, conn, route);
	case R_HISTORY:
		return get_history(srv, conn, url);
	case R_STARTS:
		return get_starts(srv, conn);
	case R_DASHBOARD:
		page = strdup(collector_dashboard_html);
		return page ? respond(conn, MHD_HTTP_OK, page, "text/html; charset=utf-8", NULL)
			    : MHD_NO;
	default:
		return respond_error(conn, MHD_HTTP_NOT_FOUND, "no such resource", NULL);
	}
}

static struct conn_track *track_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void track_set(struct http_server *srv, struct MHD_Connection *conn, bool busy,
		      bool restart)
{
	struct conn_track *t = track_of(conn);

	if (!t)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	t->busy = busy;
	if (restart)
		t->start = timeutil_now(CLOCK_MONOTONIC);
	pthread_mutex_unlock(&srv->conns_lock);
}

/* The store's writer calls this once the report is committed. */
static void report_done(void *arg, int rc)
{
	struct request *r = arg;

	if (rc == 0)	/* stored: a duplicate is an older report */
		metrics_master_observe(&r->srv->master, &r->info, timeutil_now(CLOCK_REALTIME),
				       r->srv->cfg->stale_after_s);
	pthread_mutex_lock(&r->lock);
	r->done = true;
	r->rc = rc;
	if (r->suspended) {
		r->suspended = false;
		MHD_resume_connection(r->conn);
	}
	pthread_mutex_unlock(&r->lock);
}

static enum MHD_Result answer_stored(struct request *r)
{
	if (r->rc < 0)
		return respond_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				     "the report could not be stored; retry later", NULL);
	return respond(r->conn, MHD_HTTP_NO_CONTENT, NULL, NULL, NULL);
}

/* The whole body is in: validate, queue for the writer, wait for it. */
static enum MHD_Result post_complete(struct http_server *srv, struct request *r)
{
	struct status_info info;
	char err[256], msg[300];
	unsigned code;
	int rc;

	if (r->too_large) {
		count(&srv->counters.too_large);
		return respond_error(r->conn, HTTP_413,
				     "body larger than 65536 bytes", NULL);
	}
	if (r->route == R_STARTS)
		return post_start(srv, r);
	rc = parse_in_arena(r->body ? r->body : "", r->len, &info, err, sizeof(err));
	if (rc == STATUS_EJSON || rc == STATUS_ESCHEMA) {
		snprintf(msg, sizeof(msg), "%s", err);
		count(rc == STATUS_EJSON ? &srv->counters.bad_json : &srv->counters.bad_schema);
		return respond_error(r->conn, rc == STATUS_EJSON ? MHD_HTTP_BAD_REQUEST
								 : HTTP_422, msg, NULL);
	}
	if (rc != STATUS_OK)
		return respond_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
	r->info = info;
	if (r->auth == AUTH_HOST &&
	    (code = check_host_token(&srv->cfg->host_tokens, info.host, r->token)) != 0) {
		count(code == MHD_HTTP_FORBIDDEN ? &srv->counters.forbidden
						 : &srv->counters.unauthorized);
		if (code == MHD_HTTP_UNAUTHORIZED)
			return respond_error(r->conn, code, "missing or wrong bearer token", NULL);
		snprintf(msg, sizeof(msg), "this token may not write reports of host '%s'",
			 info.host);
		return respond_error(r->conn, code, msg, NULL);
	}
	pthread_mutex_lock(&r->lock);
	rc = store_submit(srv->store, &info, r->body, r->len,
			  (int64_t)(timeutil_now(CLOCK_REALTIME) * 1e6), report_done, r);
	if (rc < 0) {
		pthread_mutex_unlock(&r->lock);
		return respond_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
	}
	r->submitted = true;
	track_set(srv, r->conn, true, false);
	if (!r->done) {
		r->suspended = true;
		MHD_suspend_connection(r->conn);
		pthread_mutex_unlock(&r->lock);
		return MHD_YES;
	}
	pthread_mutex_unlock(&r->lock);
	return answer_stored(r);
}

static enum MHD_Result post_data(struct http_server *srv, struct request *r, const char *data,
				 size_t *size)
{
	if (!r->too_large && r->len + *size <= STATUS_MAX_BYTES) {
		char *nb = realloc(r->body, r->len + *size + 1);

		if (!nb)
			return MHD_NO;
		r->body = nb;
		memcpy(r->body + r->len, data, *size);
		r->len += *size;
		r->body[r->len] = '\0';
	} else {
		r->too_large = true;
		free(r->body);
		r->body = NULL;
		r->len = 0;
	}
	*size = 0;
	return MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
	struct conn_track *t = *socket_context;
	const union MHD_ConnectionInfo *ci;

	pthread_mutex_lock(&srv->conns_lock);
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		t = calloc(1, sizeof(*t));
		if (t && ci) {
			t->fd = ci->connect_fd;
			t->start = timeutil_now(CLOCK_MONOTONIC);
			t->next = srv->conns;
			if (srv->conns)
				srv->conns->prev = t;
			srv->conns = t;
		} else {
			free(t);
			t = NULL;
		}
		*socket_context = t;
	} else if (t) {
		if (t->prev)
			t->prev->next = t->next;
		else
			srv->conns = t->next;
		if (t->next)
			t->next->prev = t->prev;
		free(t);
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&srv->conns_lock);
}

/* Once a second: shut down connections whose request is overdue. The
 * socket is only shut down, not closed, so MHD sees EOF and cleans up. */
static void *sweeper_main(void *arg)
{
	struct http_server *srv = arg;
	double limit = srv->cfg->request_timeout_s, now;
	struct timespec until;

	pthread_mutex_lock(&srv->conns_lock);
	while (!srv->stopping) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&srv->stop_cond, &srv->conns_lock, &until);
		now = timeutil_now(CLOCK_MONOTONIC);
		for (struct conn_track *t = srv->conns; t; t = t->next) {
			if (t->busy || now - t->start <= limit)
				continue;
			shutdown(t->fd, SHUT_RDWR);
			t->busy = true;		/* once */
			srv->slow_closed++;
		}
	}
	pthread_mutex_unlock(&srv->conns_lock);
	return NULL;
}

/* First call for a connection's request: route, method, token, length. */
static enum MHD_Result begin_request(struct http_server *srv, struct MHD_Connection *conn,
				     const char *url, const char *method, struct request **out)
{
	enum route route = route_of(url);
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	bool ingest = route == R_STATUS || (route == R_STARTS && !strcmp(method, "POST"));
	enum auth auth = AUTH_ANY;
	const char *cl;
	struct request *r;

	if (!route)
		return respond_error(conn, MHD_HTTP_NOT_FOUND, "no such resource", NULL);
	if (route == R_STATUS ? strcmp(method, "POST") != 0 : !get && !ingest)
		return respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
				     route == R_STATUS ? "POST" : route == R_STARTS ? "GET, HEAD, POST"
				     : "GET, HEAD");
	/* a GET is answered on the next call (see on_request) */
	if (ingest && (auth = authorise(srv, conn)) == AUTH_NONE) {
		count(&srv->counters.unauthorized);
		return respond_error(conn, MHD_HTTP_UNAUTHORIZED, "missing or wrong bearer token",
				     NULL);
	}
	if (ingest && !http_is_json_type(MHD_lookup_connection_value(conn,
			MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		count(&srv->counters.bad_type);
		return respond_error(conn, HTTP_415, "Content-Type must be application/json", NULL);
	}
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (ingest && cl && strtoull(cl, NULL, 10) > STATUS_MAX_BYTES) {
		count(&srv->counters.too_large);
		return respond_error(conn, HTTP_413, "body larger than 65536 bytes", NULL);
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return MHD_NO;
	if (auth == AUTH_HOST && !(r->token = strdup(bearer_of(conn)))) {
		free(r);
		return MHD_NO;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->route = route;
	r->ingest = ingest;
	r->auth = auth;
	r->conn = conn;
	r->srv = srv;
	*out = r;
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **con_cls)
{
	struct http_server *srv = cls;
	struct request *r = *con_cls;

	if (!r) {
		enum MHD_Result ret = begin_request(srv, conn, url, method, &r);

		*con_cls = r;
		return ret;
	}
	/* A GET is answered on its second call, once MHD has read the whole
	 * request: a response queued on the first call makes MHD 0.9.75 end
	 * the connection after it ("Connection: close"), so every dashboard
	 * poll and every scrape paid a new connection and TCP slow start. */
	if (!r->ingest) {
		if (*size) {
			*size = 0;	/* a body on a GET: read and ignored */
			return MHD_YES;
		}
		return get_route(srv, conn, r->route, url);
	}
	if (r->submitted) {
		bool done;

		pthread_mutex_lock(&r->lock);
		done = r->done;
		pthread_mutex_unlock(&r->lock);
		return done ? answer_stored(r) : MHD_YES;
	}
	if (*size)
		return post_data(srv, r, data, size);
	return post_complete(srv, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;
	bool pending;

	track_set(cls, conn, false, true);
	if (!r)
		return;
	/* Not expected: MHD does not end a suspended connection, and the store
	 * answers every queued report before the HTTP threads stop. Should it
	 * happen, the writer still holds r: leak it rather than free it. */
	pthread_mutex_lock(&r->lock);
	pending = r->submitted && !r->done;
	pthread_mutex_unlock(&r->lock);
	if (pending) {
		log_err("a connection ended while its report was being stored");
		return;
	}
	pthread_mutex_destroy(&r->lock);
	free(r->body);
	free(r->token);
	free(r);
	*con_cls = NULL;
}

/* Render every host's part of the fleet view once before serving (~40 ms
 * for 10,000 hosts), so that the first GET after a start only assembles
 * it. Best effort: a failure here only makes that GET slower. */
static void warm_fleet_view(struct http_server *srv)
{
	struct views_params p = params_now(srv);
	struct store_latest *rows;
	size_t n;

	if (store_latest_all(srv->store, &rows, &n) < 0)
		return;
	free(views_fleet_json(rows, n, &p, &srv->frags));
	free(rows);
}

int http_start(const struct collector_config *cfg, struct store *store,
	       struct http_server **out, char *err, size_t errlen)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port) };

	if (!srv)
		return -ENOMEM;
	if (inet_pton(AF_INET, cfg->listen_address, &sa.sin_addr) != 1) {
		snprintf(err, errlen, "listen_address '%s': not a numeric IPv4 address",
			 cfg->listen_address);
		free(srv);
		return -EINVAL;
	}
	srv->cfg = cfg;
	srv->store = store;
	json_arena_install();
	pthread_mutex_init(&srv->conns_lock, NULL);
	pthread_mutex_init(&srv->fleet_lock, NULL);
	pthread_mutex_init(&srv->render_lock, NULL);
	metrics_master_init(&srv->master);
	pthread_cond_init(&srv->stop_cond, NULL);
	srv->n_tokens = collector_config_tokens(cfg, srv->token_copy, srv->tokens);
	if (starts_open(cfg->db_path, &srv->starts, err, errlen) < 0) {
		free(srv);
		return -EIO;
	}
	warm_fleet_view(srv);
	srv->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				  MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
				  (uint16_t)cfg->port, NULL, NULL, on_request, srv,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				  MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->per_ip_connections,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout_s,
				  MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024U,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
				  MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
				  MHD_OPTION_END);
	if (!srv->d) {
		snprintf(err, errlen, "listen on %s:%d: %s (address in use or not local?)",
			 cfg->listen_address, cfg->port, strerror(errno ? errno : EADDRINUSE));
		starts_close(srv->starts);
		free(srv);
		return -EADDRINUSE;
	}
	srv->sweeper_started = pthread_create(&srv->sweeper, NULL, sweeper_main, srv) == 0;
	*out = srv;
	return 0;
}

void http_quiesce(struct http_server *srv)
{
	if (srv)
		MHD_quiesce_daemon(srv->d);
}

void http_stop(struct http_server *srv)
{
	if (!srv)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	srv->stopping = true;
	pthread_cond_signal(&srv->stop_cond);
	pthread_mutex_unlock(&srv->conns_lock);
	if (srv->sweeper_started)
		pthread_join(srv->sweeper, NULL);
	MHD_stop_daemon(srv->d);
	if (srv->slow_closed)
		log_info("closed %lu connections that were too slow to send a request",
			 srv->slow_closed);
	if (srv->fleet_resp)
		MHD_destroy_response(srv->fleet_resp);
	pthread_mutex_destroy(&srv->fleet_lock);
	views_cache_free(&srv->frags);
	starts_close(srv->starts);
	pthread_mutex_destroy(&srv->render_lock);
	metrics_master_destroy(&srv->master);
	pthread_mutex_destroy(&srv->conns_lock);
	pthread_cond_destroy(&srv->stop_cond);
	free(srv);
}
