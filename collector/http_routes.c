/* http_routes.c - the routes: GET /api/v1/fleet, /metrics, the history and
 * the dashboard, and POST /api/v1/status up to the store. Split from
 * http.c, which keeps the rest; http_priv.h holds what both use. */
#include "http_priv.h"

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

extern const char collector_dashboard_html[];	/* generated from dashboard.html */

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
		return http_priv_respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database read failed", NULL);
	if (route == R_FLEET) {
		pthread_mutex_lock(&srv->render_lock);
		body = views_fleet_json(rows, n, &p, &srv->frags);
		pthread_mutex_unlock(&srv->render_lock);
		free(rows);
		return body ? respond_fleet(srv, conn, body)
			    : http_priv_respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
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
	return body ? http_priv_respond(conn, MHD_HTTP_OK, body, "text/plain; version=0.0.4; charset=utf-8", NULL)
		    : http_priv_respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
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
		return http_priv_respond_error(conn, MHD_HTTP_NOT_FOUND, "no such host", NULL);
	memcpy(host, url + 14, hl);
	host[hl] = '\0';
	if (time_arg(conn, "until", now, &until) < 0 ||
	    time_arg(conn, "since", until - 3600 * 1000000LL, &since) < 0) {
		snprintf(msg, sizeof(msg), "since/until: expected RFC 3339 UTC or Unix seconds");
		return http_priv_respond_error(conn, MHD_HTTP_BAD_REQUEST, msg, NULL);
	}
	if (store_history(srv->store, host, since, until, HISTORY_MAX_POINTS, &pts, &n) < 0)
		return http_priv_respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database read failed", NULL);
	body = views_history_json(host, pts, n, since, until);
	free(pts);
	return body ? http_priv_respond(conn, MHD_HTTP_OK, body, "application/json", NULL)
		    : http_priv_respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
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
		return http_priv_respond_error(conn, MHD_HTTP_BAD_REQUEST, "experiment: not a valid id", NULL);
	if (limit < 1 || limit > STARTS_LIST_MAX)
		return http_priv_respond_error(conn, MHD_HTTP_BAD_REQUEST, "limit: expected 1 to 200", NULL);
	if (store_latest_all(srv->store, &rows, &n) < 0 || !(k = known_hosts(rows, n))) {
		free(rows);
		return http_priv_respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database read failed", NULL);
	}
	rc = id ? starts_render_experiment(srv->starts, id, k, n, &body)
		: starts_render_list(srv->starts, (size_t)limit, k, n, &body);
	free(k);
	free(rows);
	if (rc == -ENOMEM)
		return http_priv_respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
	return rc == 0 ? http_priv_respond(conn, MHD_HTTP_OK, body, "application/json", NULL)
		       : http_priv_respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database read failed", NULL);
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
		http_priv_count(rc == START_EJSON ? &srv->counters.bad_json : &srv->counters.bad_schema);
		return http_priv_respond_error(r->conn, rc == START_EJSON ? MHD_HTTP_BAD_REQUEST : HTTP_422, err,
				     NULL);
	}
	if (r->auth == AUTH_HOST &&
	    (code = check_host_token(&srv->cfg->host_tokens, rec.host, r->token)) != 0) {
		http_priv_count(code == MHD_HTTP_FORBIDDEN ? &srv->counters.forbidden
						 : &srv->counters.unauthorized);
		if (code == MHD_HTTP_UNAUTHORIZED)
			return http_priv_respond_error(r->conn, code, "missing or wrong bearer token", NULL);
		snprintf(msg, sizeof(msg), "this token may not write start records of host '%s'",
			 rec.host);
		return http_priv_respond_error(r->conn, code, msg, NULL);
	}
	rc = starts_put(srv->starts, &rec, r->body, r->len,
			(int64_t)(timeutil_now(CLOCK_REALTIME) * 1e6), err, sizeof(err));
	if (rc < 0) {
		log_err("%s", err);
		return http_priv_respond_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				     "the start record could not be stored; retry later", NULL);
	}
	log_info("start record of %s for experiment %s: %s%s", rec.host, rec.experiment,
		 start_outcome_str(rec.outcome), rc == 1 ? " (duplicate)" : "");
	return http_priv_respond(r->conn, MHD_HTTP_NO_CONTENT, NULL, NULL, NULL);
}

enum MHD_Result http_priv_get_route(struct http_server *srv, struct MHD_Connection *conn,
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
		return page ? http_priv_respond(conn, MHD_HTTP_OK, page, "text/html; charset=utf-8", NULL)
			    : MHD_NO;
	default:
		return http_priv_respond_error(conn, MHD_HTTP_NOT_FOUND, "no such resource", NULL);
	}
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

enum MHD_Result http_priv_answer_stored(struct request *r)
{
	if (r->rc < 0)
		return http_priv_respond_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				     "the report could not be stored; retry later", NULL);
	return http_priv_respond(r->conn, MHD_HTTP_NO_CONTENT, NULL, NULL, NULL);
}

/* The whole body is in: validate, queue for the writer, wait for it. */
enum MHD_Result http_priv_post_complete(struct http_server *srv, struct request *r)
{
	struct status_info info;
	char err[256], msg[300];
	unsigned code;
	int rc;

	if (r->too_large) {
		http_priv_count(&srv->counters.too_large);
		return http_priv_respond_error(r->conn, HTTP_413,
				     "body larger than 65536 bytes", NULL);
	}
	if (r->route == R_STARTS)
		return post_start(srv, r);
	rc = parse_in_arena(r->body ? r->body : "", r->len, &info, err, sizeof(err));
	if (rc == STATUS_EJSON || rc == STATUS_ESCHEMA) {
		snprintf(msg, sizeof(msg), "%s", err);
		http_priv_count(rc == STATUS_EJSON ? &srv->counters.bad_json : &srv->counters.bad_schema);
		return http_priv_respond_error(r->conn, rc == STATUS_EJSON ? MHD_HTTP_BAD_REQUEST
								 : HTTP_422, msg, NULL);
	}
	if (rc != STATUS_OK)
		return http_priv_respond_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
	r->info = info;
	if (r->auth == AUTH_HOST &&
	    (code = check_host_token(&srv->cfg->host_tokens, info.host, r->token)) != 0) {
		http_priv_count(code == MHD_HTTP_FORBIDDEN ? &srv->counters.forbidden
						 : &srv->counters.unauthorized);
		if (code == MHD_HTTP_UNAUTHORIZED)
			return http_priv_respond_error(r->conn, code, "missing or wrong bearer token", NULL);
		snprintf(msg, sizeof(msg), "this token may not write reports of host '%s'",
			 info.host);
		return http_priv_respond_error(r->conn, code, msg, NULL);
	}
	pthread_mutex_lock(&r->lock);
	rc = store_submit(srv->store, &info, r->body, r->len,
			  (int64_t)(timeutil_now(CLOCK_REALTIME) * 1e6), report_done, r);
	if (rc < 0) {
		pthread_mutex_unlock(&r->lock);
		return http_priv_respond_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
	}
	r->submitted = true;
	http_priv_track_set(srv, r->conn, true, false);
	if (!r->done) {
		r->suspended = true;
		MHD_suspend_connection(r->conn);
		pthread_mutex_unlock(&r->lock);
		return MHD_YES;
	}
	pthread_mutex_unlock(&r->lock);
	return http_priv_answer_stored(r);
}

enum MHD_Result http_priv_post_data(struct http_server *srv, struct request *r, const char *data,
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

/* Render every host's part of the fleet view once before serving (~40 ms
 * for 10,000 hosts), so that the first GET after a start only assembles
 * it. Best effort: a failure here only makes that GET slower. */
void http_priv_warm_fleet_view(struct http_server *srv)
{
	struct views_params p = params_now(srv);
	struct store_latest *rows;
	size_t n;

	if (store_latest_all(srv->store, &rows, &n) < 0)
		return;
	free(views_fleet_json(rows, n, &p, &srv->frags));
	free(rows);
}
