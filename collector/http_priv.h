/* http_priv.h - private to http.c and http_routes.c:
 * what both use. */
#ifndef FLEETCLOCK_HTTP_PRIV_H
#define FLEETCLOCK_HTTP_PRIV_H

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

#define HTTP_413 413	/* HTTP_413, named differently across versions */

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

void http_priv_count(uint64_t *c);

enum MHD_Result http_priv_respond(struct MHD_Connection *conn, unsigned code, char *body,
			       const char *type, const char *allow);

/* An error answer: {"status": code, "error": message}. */
enum MHD_Result http_priv_respond_error(struct MHD_Connection *conn, unsigned code, const char *msg,
				     const char *allow);

void http_priv_track_set(struct http_server *srv, struct MHD_Connection *conn, bool busy,
		      bool restart);

enum MHD_Result http_priv_get_route(struct http_server *srv, struct MHD_Connection *conn,
				 enum route route, const char *url);

enum MHD_Result http_priv_answer_stored(struct request *r);

/* The whole body is in: validate, queue for the writer, wait for it. */
enum MHD_Result http_priv_post_complete(struct http_server *srv, struct request *r);

enum MHD_Result http_priv_post_data(struct http_server *srv, struct request *r, const char *data,
				 size_t *size);

/* Render every host's part of the fleet view once before serving (~40 ms
 * for 10,000 hosts), so that the first GET after a start only assembles
 * it. Best effort: a failure here only makes that GET slower. */
void http_priv_warm_fleet_view(struct http_server *srv);

#endif
