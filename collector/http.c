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
#include "http_priv.h"

#define HTTP_415 415	/* unsupported media type */

void http_priv_count(uint64_t *c)
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

enum MHD_Result http_priv_respond(struct MHD_Connection *conn, unsigned code, char *body,
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
enum MHD_Result http_priv_respond_error(struct MHD_Connection *conn, unsigned code, const char *msg,
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
	return http_priv_respond(conn, code, body, "application/json", allow);
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

static struct conn_track *track_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

void http_priv_track_set(struct http_server *srv, struct MHD_Connection *conn, bool busy,
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
		return http_priv_respond_error(conn, MHD_HTTP_NOT_FOUND, "no such resource", NULL);
	if (route == R_STATUS ? strcmp(method, "POST") != 0 : !get && !ingest)
		return http_priv_respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
				     route == R_STATUS ? "POST" : route == R_STARTS ? "GET, HEAD, POST"
				     : "GET, HEAD");
	/* a GET is answered on the next call (see on_request) */
	if (ingest && (auth = authorise(srv, conn)) == AUTH_NONE) {
		http_priv_count(&srv->counters.unauthorized);
		return http_priv_respond_error(conn, MHD_HTTP_UNAUTHORIZED, "missing or wrong bearer token",
				     NULL);
	}
	if (ingest && !http_is_json_type(MHD_lookup_connection_value(conn,
			MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		http_priv_count(&srv->counters.bad_type);
		return http_priv_respond_error(conn, HTTP_415, "Content-Type must be application/json", NULL);
	}
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (ingest && cl && strtoull(cl, NULL, 10) > STATUS_MAX_BYTES) {
		http_priv_count(&srv->counters.too_large);
		return http_priv_respond_error(conn, HTTP_413, "body larger than 65536 bytes", NULL);
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
		return http_priv_get_route(srv, conn, r->route, url);
	}
	if (r->submitted) {
		bool done;

		pthread_mutex_lock(&r->lock);
		done = r->done;
		pthread_mutex_unlock(&r->lock);
		return done ? http_priv_answer_stored(r) : MHD_YES;
	}
	if (*size)
		return http_priv_post_data(srv, r, data, size);
	return http_priv_post_complete(srv, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;
	bool pending;

	http_priv_track_set(cls, conn, false, true);
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
	http_priv_warm_fleet_view(srv);
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
