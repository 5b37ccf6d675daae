/* watch_metrics.c: the optional Prometheus endpoint of zlapply watch
 * (`--metrics HOST:PORT`): GET /metrics answers text format 0.0.4, every
 * other path 404.
 *
 * A deliberately tiny HTTP/1.0-style server: one request per connection,
 * answered and closed. Sockets are non-blocking and live in the watcher's
 * poll() set, so a slow or silent client can never stall reconciling: it
 * gets CLIENT_DEADLINE_MS to send its request and a second to take the
 * answer, then it is dropped. It binds exactly the address given.
 *
 * The same server is watch --git's webhook listener (`--webhook
 * HOST:PORT`, see its section): signed POSTs instead of GET /metrics. */
#include "watch-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>

#define MAX_CLIENTS 16
#define CLIENT_DEADLINE_MS 2000
#define REQUEST_MAX 4096
#define WEBHOOK_BODY_MAX (1u << 20) /* GitHub caps its payloads at 25 MB; pushes are far smaller */

struct metrics_client {
	int fd;
	int64_t deadline_ms;
	size_t len;
	char buf[REQUEST_MAX + 1];
	/* webhook: the body, once the headers said how long it is */
	char *body;
	size_t body_len, body_want;
};

struct watch_metrics {
	int listen_fd;
	struct metrics_client *clients[MAX_CLIENTS];
	size_t count;
	/* --webhook: this listener takes signed POSTs instead of GET /metrics */
	const struct watch_git *hook;
	bool hooked; /* a signed POST came since watch_webhook_take() */
};

/* ---- rendering ---- */

/* A label value: backslash, double quote and newline escaped. */
static void put_label(struct zl_buf *b, const char *name, const char *value)
{
	zl_buf_printf(b, "%s=\"", name);
	for (const char *p = value ? value : ""; *p; p++) {
		if (*p == '\\' || *p == '"')
			zl_buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			zl_buf_puts(b, "\\n");
		else
			zl_buf_append(b, p, 1);
	}
	zl_buf_puts(b, "\"");
}

static void put_header(struct zl_buf *b, const char *name, const char *type, const char *help)
{
	zl_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static bool row_ready(const struct state_replica *r)
{
	/* Running, and healthy when a health check has said anything. */
	return r->state == STATE_REPLICA_RUNNING &&
	       (!r->health || strcmp(r->health, "healthy") == 0);
}

static const struct spec_deployment *set_find(const struct spec_set *set, const char *name)
{
	for (size_t i = 0; set && i < set->count; i++)
		if (strcmp(set->deployments[i].name, name) == 0)
			return &set->deployments[i];
	return NULL;
}

/* stats: the numbers of `zlapply stats`, one series per running replica
 * of a watched deployment (cpu % is rate(zlapply_replica_cpu_seconds_total)). */
static const struct usage_metric {
	const char *name, *type, *help;
	size_t offset;  /* of the int64_t in struct reconcile_usage */
	double scale;
} usage_metrics[] = {
	{ "zlapply_replica_cpu_seconds_total", "counter", "CPU time the replica's cgroup used.",
	  offsetof(struct reconcile_usage, cpu_usage_ns), 1e-9 },
	{ "zlapply_replica_memory_bytes", "gauge",
	  "Memory the replica uses (its cgroup's usage minus inactive file cache).",
	  offsetof(struct reconcile_usage, memory_bytes), 1 },
	{ "zlapply_replica_memory_limit_bytes", "gauge", "The replica's memory limit (absent: none).",
	  offsetof(struct reconcile_usage, memory_limit_bytes), 1 },
	{ "zlapply_replica_pids", "gauge", "Processes (tasks) in the replica's cgroup.",
	  offsetof(struct reconcile_usage, pids), 1 },
	{ "zlapply_replica_network_receive_bytes_total", "counter",
	  "Bytes the replica's network namespace received (every interface but lo).",
	  offsetof(struct reconcile_usage, net_rx_bytes), 1 },
	{ "zlapply_replica_network_transmit_bytes_total", "counter",
	  "Bytes the replica's network namespace sent (every interface but lo).",
	  offsetof(struct reconcile_usage, net_tx_bytes), 1 },
	{ "zlapply_replica_blkio_read_bytes_total", "counter", "Bytes the replica read from block devices.",
	  offsetof(struct reconcile_usage, blkio_read_bytes), 1 },
	{ "zlapply_replica_blkio_write_bytes_total", "counter", "Bytes the replica wrote to block devices.",
	  offsetof(struct reconcile_usage, blkio_write_bytes), 1 },
};

static void put_replica_labels(struct zl_buf *out, const struct state_replica *row)
{
	char replica[256];
	snprintf(replica, sizeof(replica), "%s-rep-%d", row->service, row->index);
	put_label(out, "deployment", row->deployment);
	zl_buf_puts(out, ",");
	put_label(out, "service", row->service);
	zl_buf_puts(out, ",");
	put_label(out, "replica", replica);
}

static void put_usage(struct zl_buf *out, const struct watch_snapshot *s)
{
	if (!s->opts || !s->rows)
		return;
	struct reconcile_usage *usage = stats_read_rows(s->opts, s->rows);
	for (size_t m = 0; m < sizeof(usage_metrics) / sizeof(usage_metrics[0]); m++) {
		const struct usage_metric *um = &usage_metrics[m];
		put_header(out, um->name, um->type, um->help);
		for (size_t r = 0; r < s->rows->count; r++) {
			const struct state_replica *row = &s->rows->items[r];
			int64_t v;
			memcpy(&v, (const char *)&usage[r] + um->offset, sizeof(v));
			if (v < 0 || !set_find(s->set, row->deployment))
				continue;
			zl_buf_printf(out, "%s{", um->name);
			put_replica_labels(out, row);
			if (um->scale == 1)
				zl_buf_printf(out, "} %lld\n", (long long)v);
			else
				zl_buf_printf(out, "} %.9f\n", (double)v * um->scale);
		}
	}
	free(usage);
}

void watch_metrics_render(const struct watch_snapshot *s, struct zl_buf *out)
{
	const struct spec_set *set = s->set;
	const struct state_replicas *rows = s->rows;

	put_header(out, "zlapply_replicas_desired", "gauge", "Replicas the spec asks for.");
	for (size_t d = 0; set && d < set->count; d++) {
		const struct spec_deployment *dep = &set->deployments[d];
		for (size_t i = 0; i < dep->service_count; i++) {
			const struct spec_service *svc = &dep->services[i];
			/* As apply counts them: cron runs keep no standing replicas. */
			int want = svc->rtype == SPEC_RTYPE_CRON ? 0 : spec_service_desired_replicas(svc);
			zl_buf_puts(out, "zlapply_replicas_desired{");
			put_label(out, "deployment", dep->name);
			zl_buf_puts(out, ",");
			put_label(out, "service", svc->name);
			zl_buf_printf(out, "} %d\n", want);
		}
	}

	put_header(out, "zlapply_replicas_ready", "gauge",
		   "Replicas running (and healthy, when a health check reported).");
	for (size_t d = 0; set && d < set->count; d++) {
		const struct spec_deployment *dep = &set->deployments[d];
		for (size_t i = 0; i < dep->service_count; i++) {
			const struct spec_service *svc = &dep->services[i];
			int ready = 0;
			for (size_t r = 0; rows && r < rows->count; r++) {
				const struct state_replica *row = &rows->items[r];
				if (strcmp(row->deployment, dep->name) == 0 &&
				    strcmp(row->service, svc->name) == 0 && row_ready(row))
					ready++;
			}
			zl_buf_puts(out, "zlapply_replicas_ready{");
			put_label(out, "deployment", dep->name);
			zl_buf_puts(out, ",");
			put_label(out, "service", svc->name);
			zl_buf_printf(out, "} %d\n", ready);
		}
	}

	put_header(out, "zlapply_replica_restarts_total", "counter",
		   "Times zlapply started the replica again after it exited.");
	for (size_t r = 0; rows && r < rows->count; r++) {
		const struct state_replica *row = &rows->items[r];
		if (!set_find(set, row->deployment))
			continue;
		zl_buf_puts(out, "zlapply_replica_restarts_total{");
		put_replica_labels(out, row);
		zl_buf_printf(out, "} %d\n", row->restarts);
	}

	put_usage(out, s);

	put_header(out, "zlapply_apply_duration_seconds", "gauge", "How long the last apply took.");
	if (s->last_apply_ms >= 0)
		zl_buf_printf(out, "zlapply_apply_duration_seconds %.3f\n",
			      (double)s->last_apply_ms / 1000.0);

	put_header(out, "zlapply_applies_total", "counter", "Applies the watcher ran, by result.");
	zl_buf_printf(out, "zlapply_applies_total{result=\"ok\"} %llu\n",
		      (unsigned long long)s->applies_ok);
	zl_buf_printf(out, "zlapply_applies_total{result=\"failed\"} %llu\n",
		      (unsigned long long)s->applies_failed);

	put_header(out, "zlapply_spec_valid", "gauge",
		   "1 when the watched files loaded without error; 0 while the last good state is kept.");
	zl_buf_printf(out, "zlapply_spec_valid %d\n", s->spec_valid ? 1 : 0);

	if (s->git_url) {
		put_header(out, "zlapply_git_commit_info", "gauge",
			   "The commit in force (watch --git); absent until one is applied.");
		if (s->git_commit) {
			zl_buf_puts(out, "zlapply_git_commit_info{");
			put_label(out, "url", s->git_url);
			zl_buf_puts(out, ",");
			put_label(out, "commit", s->git_commit);
			zl_buf_puts(out, "} 1\n");
		}
		put_header(out, "zlapply_git_last_error", "gauge",
			   "1 when the last fetch failed or the last commit fetched was refused.");
		zl_buf_printf(out, "zlapply_git_last_error %d\n", s->git_error ? 1 : 0);
		put_header(out, "zlapply_git_errors_total", "counter",
			   "Fetches that failed and commits refused (specs that do not load).");
		zl_buf_printf(out, "zlapply_git_errors_total %llu\n", (unsigned long long)s->git_errors);
	}

	put_header(out, "zlapply_drift_total", "counter",
		   "Replicas found not as the unchanged spec says (exited, lost, missing).");
	zl_buf_printf(out, "zlapply_drift_total %llu\n", (unsigned long long)s->drift_total);
}

/* ---- the socket ---- */

/* Splits "HOST:PORT" / "[V6]:PORT" into host and port (copied into the
 * buffers). */
static int split_addr(const char *flag, const char *addr, char *host, size_t host_size, char *port,
		      size_t port_size, struct zl_err *err)
{
	const char *colon, *h = addr;
	size_t hlen;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (!close || close[1] != ':')
			goto bad;
		h = addr + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			goto bad;
		hlen = (size_t)(colon - addr);
	}
	const char *p = colon + 1;
	size_t plen = strlen(p);
	if (hlen == 0 || hlen >= host_size || plen == 0 || plen > 5 || plen >= port_size)
		goto bad;
	long n = 0;
	for (const char *c = p; *c; c++) {
		if (*c < '0' || *c > '9')
			goto bad;
		n = n * 10 + (*c - '0');
	}
	if (n > 65535)
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memcpy(port, p, plen + 1);
	return 0;
bad:
	return zl_invalid(err, "%s: expected HOST:PORT (e.g. 127.0.0.1:9464), got \"%s\"", flag, addr);
}

static void format_sockaddr(const struct sockaddr_storage *ss, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, size, "%s:%d", host, port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, size, "[%s]:%d", host, port);
	}
}

/* Binds addr for flag ("--metrics", "--webhook"). */
static int listen_open(const char *flag, const char *addr, struct watch_metrics **out, char *bound,
		       size_t bound_size, struct zl_err *err)
{
	char host[256], port[8];
	*out = NULL;
	if (split_addr(flag, addr, host, sizeof(host), port, sizeof(port), err) < 0)
		return -1;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV }, *res = NULL;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0)
		return zl_invalid(err, "%s %s: %s", flag, addr, gai_strerror(gai));
	int fd = -1, last_errno = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		int one = 1;
		/* Restarting the watcher must not wait for TIME_WAIT. */
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
			zl_log(ZL_LOG_DEBUG, "metrics: SO_REUSEADDR: %s", strerror(errno));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, MAX_CLIENTS) == 0)
			break;
		last_errno = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return zl_err_set(err, ZL_ERR_FAIL, last_errno, "%s: listen on %s", flag, addr);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		format_sockaddr(&ss, bound, bound_size);
	else
		snprintf(bound, bound_size, "%s", addr);
	struct watch_metrics *m = zl_xcalloc(1, sizeof(*m));
	m->listen_fd = fd;
	*out = m;
	return 0;
}

int watch_metrics_open(const char *addr, struct watch_metrics **out, char *bound,
		       size_t bound_size, struct zl_err *err)
{
	return listen_open("--metrics", addr, out, bound, bound_size, err);
}

int watch_webhook_open(const char *addr, const struct watch_git *g, struct watch_metrics **out,
		       char *bound, size_t bound_size, struct zl_err *err)
{
	if (listen_open("--webhook", addr, out, bound, bound_size, err) < 0)
		return -1;
	(*out)->hook = g;
	return 0;
}

bool watch_webhook_take(struct watch_metrics *m)
{
	bool hooked = m && m->hooked;
	if (m)
		m->hooked = false;
	return hooked;
}

static void client_drop(struct watch_metrics *m, size_t i)
{
	close(m->clients[i]->fd);
	free(m->clients[i]->body);
	free(m->clients[i]);
	m->clients[i] = m->clients[--m->count];
	m->clients[m->count] = NULL;
}

void watch_metrics_close(struct watch_metrics *m)
{
	if (!m)
		return;
	while (m->count > 0)
		client_drop(m, m->count - 1);
	close(m->listen_fd);
	free(m);
}

size_t watch_metrics_pollfds(struct watch_metrics *m, struct pollfd *fds, size_t max,
			     int64_t *deadline_ms)
{
	size_t n = 0;
	if (!m || max == 0)
		return 0;
	fds[n++] = (struct pollfd){ .fd = m->listen_fd, .events = POLLIN };
	for (size_t i = 0; i < m->count && n < max; i++) {
		fds[n++] = (struct pollfd){ .fd = m->clients[i]->fd, .events = POLLIN };
		if (m->clients[i]->deadline_ms < *deadline_ms)
			*deadline_ms = m->clients[i]->deadline_ms;
	}
	return n;
}

/* Sends all of data, waiting at most a second for a slow reader. */
static void send_all(int fd, const char *data, size_t len)
{
	int flags = fcntl(fd, F_GETFL);
	/* Failing this only makes a slow client lose its answer sooner. */
	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	/* One second for the whole answer, not per send(): a reader taking a
	 * few bytes at a time must not hold the single-threaded watcher. */
	int64_t deadline = zl_monotonic_ms() + 1000;
	while (len > 0) {
		int64_t left = deadline - zl_monotonic_ms();
		if (left <= 0)
			return;
		struct timeval tv = { .tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000 };
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the client went away or is too slow: its loss */
		data += w;
		len -= (size_t)w;
	}
}

static void respond(int fd, const char *status, const char *type, const char *body, bool head)
{
	struct zl_buf b = { 0 };
	size_t body_len = strlen(body);
	zl_buf_printf(&b, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			  "Connection: close\r\n\r\n", status, type, body_len);
	if (!head)
		zl_buf_append(&b, body, body_len);
	send_all(fd, b.data, b.len);
	zl_buf_free(&b);
	/* No more to send; closing after a FIN lets the client read it all. */
	(void)shutdown(fd, SHUT_WR);
}

/* Answers a complete request in c->buf. */
static void answer(struct metrics_client *c, const struct watch_snapshot *s)
{
	static const char text[] = "text/plain; charset=utf-8";
	char method[16], target[256];
	if (sscanf(c->buf, "%15s %255s", method, target) != 2) {
		respond(c->fd, "400 Bad Request", text, "bad request\n", false);
		return;
	}
	bool head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		respond(c->fd, "405 Method Not Allowed", text, "only GET\n", false);
		return;
	}
	size_t plen = strcspn(target, "?#");
	if (plen != strlen("/metrics") || strncmp(target, "/metrics", plen) != 0) {
		respond(c->fd, "404 Not Found", text, "not found; try /metrics\n", head);
		return;
	}
	struct zl_buf body = { 0 };
	watch_metrics_render(s, &body);
	respond(c->fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body.data ? body.data : "",
		head);
	zl_buf_free(&body);
}

static bool request_complete(const struct metrics_client *c)
{
	return strstr(c->buf, "\r\n\r\n") || strstr(c->buf, "\n\n");
}

/* ---- the webhook (--webhook) ----
 * POST with a body of at most WEBHOOK_BODY_MAX bytes, its length given by
 * Content-Length (a larger one is refused with 413 before any of the body
 * is read), signed as GitHub or Gitea sign (watch_git_verify). Any path:
 * forges let users pick it. */

/* The value of header name in the request head (case-insensitive name,
 * surrounding blanks trimmed) into out; false when absent or too long. */
static bool header_value(const char *head, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name);
	for (const char *p = strchr(head, '\n'); p; p = strchr(p, '\n')) {
		p++;
		if (strncasecmp(p, name, nlen) != 0 || p[nlen] != ':')
			continue;
		const char *v = p + nlen + 1;
		v += strspn(v, " \t");
		size_t len = strcspn(v, "\r\n");
		while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (len >= size)
			return false;
		memcpy(out, v, len);
		out[len] = '\0';
		return true;
	}
	return false;
}

static const char text_plain[] = "text/plain; charset=utf-8";

/* The whole body is in: verify it and answer. */
static void hook_answer(struct watch_metrics *m, struct metrics_client *c)
{
	char github[160], gitea[160];
	bool has_github = header_value(c->buf, "X-Hub-Signature-256", github, sizeof(github));
	bool has_gitea = header_value(c->buf, "X-Gitea-Signature", gitea, sizeof(gitea));
	struct zl_err err = ZL_ERR_INIT;
	if (watch_git_verify(m->hook, c->body, c->body_len, has_github ? github : NULL,
			     has_gitea ? gitea : NULL, &err) < 0) {
		zl_log(ZL_LOG_WARN, "webhook refused: %s", err.msg);
		_cleanup_free_ char *body = zl_xasprintf("refused: %s\n", err.msg);
		respond(c->fd, "401 Unauthorized", text_plain, body, false);
		return;
	}
	m->hooked = true;
	respond(c->fd, "202 Accepted", text_plain, "fetching\n", false);
}

/* The head is complete: check method and length; true when the request
 * was answered already (refused). */
static bool hook_head(struct metrics_client *c)
{
	char method[16], length[32];
	char *end = strstr(c->buf, "\r\n\r\n");
	size_t head_len = end ? (size_t)(end - c->buf) + 4 : (size_t)(strstr(c->buf, "\n\n") - c->buf) + 2;
	if (sscanf(c->buf, "%15s", method) != 1 || strcmp(method, "POST") != 0) {
		respond(c->fd, "405 Method Not Allowed", text_plain, "only POST\n", false);
		return true;
	}
	char *stop = NULL;
	unsigned long long want = 0;
	if (!header_value(c->buf, "Content-Length", length, sizeof(length)) ||
	    (errno = 0, want = strtoull(length, &stop, 10), errno || !*length || *stop)) {
		respond(c->fd, "411 Length Required", text_plain, "Content-Length required\n", false);
		return true;
	}
	if (want > WEBHOOK_BODY_MAX) {
		zl_log(ZL_LOG_WARN, "webhook refused: a body of %llu bytes (at most %u)", want,
		       WEBHOOK_BODY_MAX);
		respond(c->fd, "413 Payload Too Large", text_plain, "body too large\n", false);
		return true;
	}
	c->body_want = (size_t)want;
	c->body = zl_xmalloc(c->body_want + 1);
	c->body_len = c->len - head_len < c->body_want ? c->len - head_len : c->body_want;
	memcpy(c->body, c->buf + head_len, c->body_len);
	c->buf[head_len] = '\0'; /* the head alone, for header_value() */
	return false;
}

/* Reads a webhook request; true when the client is done with. */
static bool hook_read(struct watch_metrics *m, struct metrics_client *c)
{
	for (;;) {
		bool in_body = c->body != NULL;
		char *dst = in_body ? c->body + c->body_len : c->buf + c->len;
		size_t room = in_body ? c->body_want - c->body_len : REQUEST_MAX - c->len;
		ssize_t r = room ? read(c->fd, dst, room) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		if (r <= 0 && !(in_body && room == 0))
			return true;
		if (in_body) {
			c->body_len += (size_t)r;
		} else {
			c->len += (size_t)r;
			c->buf[c->len] = '\0';
			if (request_complete(c)) {
				if (hook_head(c))
					return true;
			} else if (c->len == REQUEST_MAX) {
				respond(c->fd, "431 Request Header Fields Too Large", text_plain,
					"request too large\n", false);
				return true;
			}
		}
		if (c->body && c->body_len == c->body_want) {
			hook_answer(m, c);
			return true;
		}
	}
}

/* Reads what the client sent; true when it is done with (answered, gone
 * or broken) and should be dropped. */
static bool client_read(struct metrics_client *c, const struct watch_snapshot *s)
{
	for (;;) {
		ssize_t r = read(c->fd, c->buf + c->len, REQUEST_MAX - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		if (r <= 0)
			return true;
		c->len += (size_t)r;
		c->buf[c->len] = '\0';
		if (request_complete(c)) {
			answer(c, s);
			return true;
		}
		if (c->len == REQUEST_MAX) {
			respond(c->fd, "431 Request Header Fields Too Large", "text/plain; charset=utf-8",
				"request too large\n", false);
			return true;
		}
	}
}

static void accept_all(struct watch_metrics *m, int64_t now_ms)
{
	for (;;) {
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				zl_log(ZL_LOG_WARN, "metrics: accept: %s", strerror(errno));
			return;
		}
		if (m->count == MAX_CLIENTS) {
			close(fd); /* busy: the scraper retries */
			continue;
		}
		struct metrics_client *c = zl_xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->deadline_ms = now_ms + CLIENT_DEADLINE_MS;
		m->clients[m->count++] = c;
	}
}

void watch_metrics_handle(struct watch_metrics *m, const struct pollfd *fds, size_t n,
			  int64_t now_ms, const struct watch_snapshot *s)
{
	if (!m)
		return;
	bool incoming = false;
	for (size_t k = 0; k < n; k++) {
		if (!fds[k].revents)
			continue;
		if (fds[k].fd == m->listen_fd) {
			incoming = true;
			continue;
		}
		for (size_t i = 0; i < m->count; i++)
			if (m->clients[i]->fd == fds[k].fd) {
				if (m->hook ? hook_read(m, m->clients[i]) : client_read(m->clients[i], s))
					client_drop(m, i);
				break;
			}
	}
	for (size_t i = m->count; i-- > 0;)
		if (m->clients[i]->deadline_ms <= now_ms)
			client_drop(m, i);
	if (incoming)
		accept_all(m, now_ms);
}
