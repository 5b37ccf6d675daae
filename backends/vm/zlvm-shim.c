/* zlvm-shim.c: the shim, the process zlmon watches for a VM replica (its
 * pid is the "container's init"). create leaves it waiting on start.fifo;
 * on start it runs QEMU as its child (PR_SET_PDEATHSIG: a SIGKILLed shim
 * takes the VM with it) and relays the guest's channel (vm-proto.h):
 *   STDOUT/STDERR        -> its own stdout/stderr, zlmon's pipes: the
 *                           replica's output;
 *   READY                -> noted in vm.log; queued execs and signals go out;
 *   EXIT "CODE SIGNAL"   -> QEMU powers off (killed after 5 s), then the
 *                           shim exits CODE or dies of SIGNAL, so zlmon
 *                           records what the guest's process did;
 *   FAIL "why"           -> the replica's last stderr line; exit 127/126
 *                           (under the runtime's name: zlmon records
 *                           exec_failed) when it says the command cannot be
 *                           executed, else 1 and exit-detail vm_start_failed;
 *   EXEC_OUT/EXEC_EXIT   -> the `zlvm exec` client of that id.
 * Signals the shim gets (a stop signal, zlapply kill) go to the guest as
 * SIGNAL frames. A VM that ends otherwise leaves BUNDLE/exit-detail.json:
 * guest_panic, vm_crashed or guest_not_ready (exit 1).
 *
 * One thread, one poll() loop: QEMU's two sockets, the exec socket and
 * its clients, and a signalfd (SIGCHLD for QEMU, and every signal that is
 * forwarded). Nothing blocks but the writes of the replica's output to
 * zlmon's pipes, which zlmon always reads (and that back-pressure is what
 * the guest's writer should feel). Threads would buy nothing here and make
 * fork()+exec of QEMU and signal handling harder to get right. */
#include "backends/vm/zlvm-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "backends/monitor/monitor.h"

#define READY_TCG_MS 120000
#define READY_KVM_MS 20000
#define POWEROFF_MS 5000        /* after EXIT/FAIL, QEMU must be gone by then */
#define CONNECT_RETRY_MS 20
#define CONNECT_GIVEUP_MS 60000
#define LOG_CAP (1024 * 1024)    /* vm.log, vm-console.log: then one .1 */
#define CLIENT_OUT_MAX (8 * 1024 * 1024)
#define READ_CHUNK 65536

/* ---- frames ---- */
void vm_buf_drop(struct zl_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		if (b->data)
			b->data[0] = '\0';
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

int vm_frame_next(struct zl_buf *b, size_t *consumed, struct vm_frame *f)
{
	if (b->len < ZLVM_HEADER)
		return 0;
	const unsigned char *p = (const unsigned char *)b->data;
	uint32_t len = zlvm_get_u32(p + 1);
	if (len > ZLVM_FRAME_MAX)
		return -1;
	if (b->len - ZLVM_HEADER < len)
		return 0;
	f->type = p[0];
	f->data = p + ZLVM_HEADER;
	f->len = len;
	*consumed = ZLVM_HEADER + len;
	return 1;
}

void vm_frame_append(struct zl_buf *b, int type, const void *data, uint32_t len)
{
	unsigned char h[ZLVM_HEADER];
	zlvm_header(h, (enum zlvm_frame)type, len);
	zl_buf_append(b, h, sizeof(h));
	if (len)
		zl_buf_append(b, data, len);
}

/* ---- the shim's state ---- */
struct client {
	int fd;
	uint32_t id;         /* the guest's exec id; 0 until asked */
	struct zl_buf in;    /* the request, until it is whole */
	struct zl_buf req;   /* argv, until the guest is ready for it */
	struct zl_buf out;   /* frames for the client */
	bool asked;          /* request read */
	bool sent;           /* EXEC sent to the guest */
	bool done;           /* the answer is complete: close once out is flushed */
};

struct shim {
	const struct vm_shim_args *a;
	int vmlog;
	int sig_fd;
	pid_t qemu;
	bool qemu_done;
	int qemu_status;
	int ctl;
	bool ctl_seen; /* connected once */
	struct zl_buf ctl_in, ctl_out;
	int con;
	bool con_seen; /* connected once */
	int con_log;
	int64_t con_size;
	char con_tail[128]; /* the end of the last chunk: a match across reads */
	bool panic, panic_done;
	char panic_line[200];
	int listen;
	struct client *clients;
	size_t n_clients;
	uint32_t next_id;
	int64_t launched, ready_deadline, stop_deadline, next_connect;
	bool ready, first_output;
	bool got_exit;
	int exit_code, exit_signal;
	char *fail;          /* the guest's FAIL */
	bool ctl_done;       /* EXIT or FAIL read: the channel is closed after it */
	char err_tail[1024]; /* the end of the process's stderr (why an exec failed) */
	const char *ended_by; /* our own reason to stop the VM: guest_not_ready, ... */
	char *ended_detail;
	int end_signal;      /* a terminating signal before the guest was ready */
	bool kill_sent;
	sigset_t forwarded;
};

/* ---- files ---- */
static char *bundle_path(const struct shim *s, const char *name)
{
	return zl_xasprintf("%s/%s", s->a->cfg->bundle, name);
}

/* Opens name in the bundle for appending; past LOG_CAP the file becomes
 * name.1 (the previous .1 goes) and a new one starts. */
static int open_capped(const struct shim *s, const char *name, int64_t *size)
{
	_cleanup_free_ char *path = bundle_path(s, name);
	struct stat sb;
	if (stat(path, &sb) == 0 && sb.st_size >= LOG_CAP) {
		_cleanup_free_ char *old = zl_xasprintf("%s.1", path);
		(void)rename(path, old);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (size)
		*size = fd >= 0 && fstat(fd, &sb) == 0 ? sb.st_size : 0;
	return fd;
}

static void write_detail(struct shim *s, const char *reason, const char *detail)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "reason", reason);
	cJSON_AddStringToObject(o, "detail", detail);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	_cleanup_free_ char *path = bundle_path(s, "exit-detail.json");
	_cleanup_free_ char *line = zl_xasprintf("%s\n", text);
	free(text);
	struct zl_err err = ZL_ERR_INIT;
	if (zl_write_file_atomic(path, line, strlen(line), 0644, &err) < 0)
		zlvm_vmlog(s->vmlog, "%s", err.msg);
	zlvm_vmlog(s->vmlog, "ended: %s: %s", reason, detail);
}

static void set_status(struct shim *s, const char *text)
{
	_cleanup_free_ char *path = zl_xasprintf("%s/status", s->a->state_dir);
	struct zl_err err = ZL_ERR_INIT;
	if (zlvm_set_file(path, text, &err) < 0)
		zlvm_vmlog(s->vmlog, "%s", err.msg);
}

/* The replica's own stderr (zlmon's pipe): a line it ends with. */
static void replica_stderr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void replica_stderr(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = zl_xvasprintf(fmt, ap);
	va_end(ap);
	_cleanup_free_ char *line = zl_xasprintf("%s\n", text);
	free(text);
	(void)zlvm_write_all(2, line, strlen(line));
}

/* ---- QEMU ---- */
static int launch_qemu(struct shim *s, struct zl_err *err)
{
	int errp[2];
	if (pipe2(errp, O_CLOEXEC) < 0)
		return zl_fail_errno(err, "pipe");
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(errp[0]);
		close(errp[1]);
		return zl_fail_errno(err, "fork");
	}
	if (pid == 0) {
		int e = 0;
		/* QEMU dies with the shim (a SIGKILLed shim cannot clean up). */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		int null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, 0) < 0 || dup2(s->vmlog, 1) < 0 || dup2(s->vmlog, 2) < 0)
			e = errno;
		if (!e && s->a->tap_fd >= 0 && fcntl(s->a->tap_fd, F_SETFD, 0) < 0)
			e = errno;
		if (!e) {
			for (int sig = 1; sig < NSIG; sig++)
				signal(sig, SIG_DFL);
			sigset_t none;
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			execv(s->a->qemu_argv[0], s->a->qemu_argv);
			e = errno;
		}
		if (write(errp[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(errp[1]);
	int e = 0;
	ssize_t n;
	while ((n = read(errp[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(errp[0]);
	if (n > 0) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		errno = e;
		return zl_fail_errno(err, "cannot run %s", s->a->qemu_argv[0]);
	}
	s->qemu = pid;
	s->launched = monitor_monotonic_ms();
	return 0;
}

static void kill_qemu(struct shim *s)
{
	if (s->qemu > 0 && !s->qemu_done && !s->kill_sent) {
		kill(s->qemu, SIGKILL);
		s->kill_sent = true;
	}
}

/* Stops the VM for a reason of ours (the guest said nothing of it). */
static void end_vm(struct shim *s, const char *reason, char *detail)
{
	if (!s->ended_by) {
		s->ended_by = reason;
		s->ended_detail = detail;
	} else {
		free(detail);
	}
	kill_qemu(s);
}

static void check_qemu(struct shim *s)
{
	if (s->qemu_done)
		return;
	int st;
	pid_t r = waitpid(s->qemu, &st, WNOHANG);
	if (r == s->qemu) {
		s->qemu_done = true;
		s->qemu_status = st;
	}
}

/* ---- sockets ---- */
static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void try_connect(struct shim *s)
{
	if (s->ctl < 0 && !s->ctl_seen) {
		_cleanup_free_ char *p = zl_xasprintf("%s/ctl.sock", s->a->state_dir);
		s->ctl = connect_unix(p);
		s->ctl_seen = s->ctl >= 0;
	}
	if (s->con < 0 && !s->con_seen && s->con_log >= 0) {
		_cleanup_free_ char *p = zl_xasprintf("%s/console.sock", s->a->state_dir);
		s->con = connect_unix(p);
		s->con_seen = s->con >= 0;
	}
}

static void ctl_send(struct shim *s, int type, const void *data, uint32_t len)
{
	vm_frame_append(&s->ctl_out, type, data, len);
}

static void ctl_flush(struct shim *s)
{
	while (s->ctl >= 0 && s->ctl_out.len) {
		ssize_t w = write(s->ctl, s->ctl_out.data, s->ctl_out.len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (errno != EAGAIN)
				s->ctl_out.len = 0; /* QEMU is going: nothing will read it */
			return;
		}
		vm_buf_drop(&s->ctl_out, (size_t)w);
	}
}

/* ---- exec clients ---- */
static struct client *client_of(struct shim *s, uint32_t id)
{
	for (size_t i = 0; i < s->n_clients; i++)
		if (s->clients[i].id == id && s->clients[i].fd >= 0)
			return &s->clients[i];
	return NULL;
}

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	zl_buf_free(&c->in);
	zl_buf_free(&c->req);
	zl_buf_free(&c->out);
}

static void client_send(struct client *c, int type, const void *data, uint32_t len)
{
	if (c->out.len > CLIENT_OUT_MAX) {
		client_close(c); /* it stopped reading: it loses the rest */
		return;
	}
	vm_frame_append(&c->out, type, data, len);
}

static void client_fail(struct client *c, const char *why)
{
	client_send(c, ZLVM_FAIL, why, (uint32_t)strlen(why));
	c->done = true;
}

static void send_exec(struct shim *s, struct client *c)
{
	struct zl_buf f = { 0 };
	unsigned char id[4];
	zlvm_put_u32(id, c->id);
	zl_buf_append(&f, id, 4);
	zl_buf_append(&f, c->req.data, c->req.len);
	ctl_send(s, ZLVM_EXEC, f.data, (uint32_t)f.len);
	zl_buf_free(&f);
	zl_buf_free(&c->req);
	c->sent = true;
}

static void client_read(struct shim *s, struct client *c)
{
	char buf[4096];
	ssize_t n = read(c->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* Gone: the guest's command goes on; its output is dropped. */
		client_close(c);
		return;
	}
	if (c->asked)
		return; /* one request per connection; nothing more is read */
	zl_buf_append(&c->in, buf, (size_t)n);
	struct vm_frame f;
	size_t used;
	int r = vm_frame_next(&c->in, &used, &f);
	if (r < 0 || (r > 0 && (f.type != ZLVM_EXEC || f.len == 0 || f.data[f.len - 1] != '\0'))) {
		client_fail(c, "zlvm: bad exec request");
		c->asked = true;
		return;
	}
	if (r == 0)
		return;
	c->asked = true;
	c->id = ++s->next_id;
	if (c->id == 0)
		c->id = ++s->next_id;
	zl_buf_append(&c->req, f.data, f.len);
	zl_buf_free(&c->in);
	if (s->got_exit || s->fail || s->ended_by || s->end_signal)
		client_fail(c, "the VM is stopping");
	else if (s->ready)
		send_exec(s, c);
	/* else: sent when the guest says READY */
}

static void client_write(struct client *c)
{
	while (c->fd >= 0 && c->out.len) {
		ssize_t w = write(c->fd, c->out.data, c->out.len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (errno != EAGAIN)
				client_close(c);
			return;
		}
		vm_buf_drop(&c->out, (size_t)w);
	}
	if (c->fd >= 0 && c->done && !c->out.len)
		client_close(c);
}

static void accept_clients(struct shim *s)
{
	for (;;) {
		int fd = accept4(s->listen, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		size_t slot = s->n_clients;
		for (size_t i = 0; i < s->n_clients; i++)
			if (s->clients[i].fd < 0 && slot == s->n_clients)
				slot = i;
		if (slot == s->n_clients)
			s->clients = zl_xrealloc(s->clients, ++s->n_clients * sizeof(*s->clients));
		s->clients[slot] = (struct client){ .fd = fd };
	}
}

static int listen_exec(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 16) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- the guest's frames ---- */
static void note_output(struct shim *s)
{
	if (s->first_output)
		return;
	s->first_output = true;
	zlvm_vmlog(s->vmlog, "first output %lld ms after QEMU started",
		   (long long)(monitor_monotonic_ms() - s->launched));
}

/* Keeps the last size-1 bytes of what was written, NUL-terminated. */
static void keep_tail(char *tail, size_t size, const unsigned char *data, size_t len)
{
	size_t have = strlen(tail);
	if (len >= size - 1) {
		memcpy(tail, data + len - (size - 1), size - 1);
		tail[size - 1] = '\0';
	} else {
		size_t drop = have + len > size - 1 ? have + len - (size - 1) : 0;
		memmove(tail, tail + drop, have - drop);
		memcpy(tail + have - drop, data, len);
		tail[have - drop + len] = '\0';
	}
}

static void on_frame(struct shim *s, const struct vm_frame *f)
{
	switch (f->type) {
	case ZLVM_STDOUT:
	case ZLVM_STDERR:
		note_output(s);
		if (f->type == ZLVM_STDERR)
			keep_tail(s->err_tail, sizeof(s->err_tail), f->data, f->len);
		/* zlmon gone (EPIPE): the output has nowhere to go */
		(void)zlvm_write_all(f->type == ZLVM_STDOUT ? 1 : 2, f->data, f->len);
		return;
	case ZLVM_READY:
		if (s->ready)
			return;
		s->ready = true;
		zlvm_vmlog(s->vmlog, "guest ready %lld ms after QEMU started (%s)",
			   (long long)(monitor_monotonic_ms() - s->launched), s->a->accel);
		for (size_t i = 0; i < s->n_clients; i++)
			if (s->clients[i].fd >= 0 && s->clients[i].asked && !s->clients[i].sent &&
			    !s->clients[i].done)
				send_exec(s, &s->clients[i]);
		return;
	case ZLVM_EXIT: {
		char text[64];
		snprintf(text, sizeof(text), "%.*s", (int)(f->len < 63 ? f->len : 63), (const char *)f->data);
		int code = 0, sig = 0;
		if (sscanf(text, "%d %d", &code, &sig) < 1) {
			zlvm_vmlog(s->vmlog, "EXIT frame \"%s\" is not \"CODE SIGNAL\"", text);
			code = 1;
		}
		if (!s->got_exit) {
			s->got_exit = true;
			s->exit_code = code & 0xff;
			s->exit_signal = sig > 0 && sig < NSIG ? sig : 0;
			s->stop_deadline = monitor_monotonic_ms() + POWEROFF_MS;
			zlvm_vmlog(s->vmlog, "the process ended: exit %d signal %d", code, sig);
		}
		s->ctl_done = true;
		return;
	}
	case ZLVM_FAIL:
		if (!s->fail && !s->got_exit) {
			s->fail = zl_xstrndup((const char *)f->data, f->len);
			s->fail[strcspn(s->fail, "\n")] = '\0';
			replica_stderr("%s", s->fail);
			s->stop_deadline = monitor_monotonic_ms() + POWEROFF_MS;
		}
		s->ctl_done = true;
		return;
	case ZLVM_EXEC_OUT: {
		if (f->len < 5)
			return;
		struct client *c = client_of(s, zlvm_get_u32(f->data));
		if (c && !c->done)
			client_send(c, f->data[4] == 2 ? ZLVM_STDERR : ZLVM_STDOUT, f->data + 5, f->len - 5);
		return;
	}
	case ZLVM_EXEC_EXIT: {
		if (f->len < 4)
			return;
		struct client *c = client_of(s, zlvm_get_u32(f->data));
		if (c && !c->done) {
			client_send(c, ZLVM_EXEC_EXIT, f->data + 4, f->len - 4);
			c->done = true;
		}
		return;
	}
	default:
		zlvm_vmlog(s->vmlog, "unknown frame type %d from the guest (ignored)", f->type);
	}
}

/* Reads what the channel has; false at EOF or on a protocol error. */
static bool ctl_read(struct shim *s)
{
	for (;;) {
		size_t old = s->ctl_in.len;
		zl_grow(&s->ctl_in.data, 1, &s->ctl_in.cap, old + READ_CHUNK + 1);
		ssize_t n = read(s->ctl, s->ctl_in.data + old, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		s->ctl_in.len += (size_t)n;
		s->ctl_in.data[s->ctl_in.len] = '\0';
		struct vm_frame f;
		size_t used;
		int r;
		while ((r = vm_frame_next(&s->ctl_in, &used, &f)) > 0) {
			on_frame(s, &f);
			vm_buf_drop(&s->ctl_in, used);
		}
		/* EXIT and FAIL are the guest's last words: it powers off once
		 * the host closes its end (or after 2 s), so close it now. */
		if (s->ctl_done)
			return false;
		if (r < 0) {
			end_vm(s, "vm_crashed", zl_xstrdup("the guest sent a frame longer than the protocol allows"));
			return false;
		}
		if ((size_t)n < READ_CHUNK)
			return true;
	}
}

/* ---- the console ---- */
/* Finds "Kernel panic" in the console output, across reads, and keeps
 * its line (which may itself come in several reads). */
static void panic_line_add(struct shim *s, const char *data, size_t len)
{
	size_t n = strcspn(data, "\r\n");
	if (n < len)
		s->panic_done = true;
	else
		n = len;
	size_t have = strlen(s->panic_line);
	size_t room = sizeof(s->panic_line) - 1 - have;
	memcpy(s->panic_line + have, data, n < room ? n : room);
	s->panic_line[have + (n < room ? n : room)] = '\0';
	if (have + n >= sizeof(s->panic_line) - 1)
		s->panic_done = true;
}

static void scan_panic(struct shim *s, const char *data, size_t len)
{
	if (s->panic) {
		if (!s->panic_done) {
			_cleanup_free_ char *copy = zl_xstrndup(data, len);
			panic_line_add(s, copy, strlen(copy));
		}
		return;
	}
	struct zl_buf b = { 0 };
	zl_buf_puts(&b, s->con_tail);
	zl_buf_append(&b, data, len);
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == '\0')
			b.data[i] = ' ';
	char *p = strstr(b.data, "Kernel panic");
	if (p) {
		s->panic = true;
		panic_line_add(s, p, b.len - (size_t)(p - b.data));
	}
	size_t keep = b.len < sizeof(s->con_tail) - 1 ? b.len : sizeof(s->con_tail) - 1;
	memcpy(s->con_tail, b.data + b.len - keep, keep);
	s->con_tail[keep] = '\0';
	zl_buf_free(&b);
}

/* false at EOF */
static bool con_read(struct shim *s)
{
	char buf[8192];
	for (;;) {
		ssize_t n = read(s->con, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN;
		if (n == 0)
			return false;
		scan_panic(s, buf, (size_t)n);
		if (s->con_size >= LOG_CAP) {
			close(s->con_log);
			s->con_log = open_capped(s, "vm-console.log", &s->con_size);
			if (s->con_log < 0)
				return false;
		}
		if (zlvm_write_all(s->con_log, buf, (size_t)n) == 0)
			s->con_size += n;
	}
}

/* ---- signals ---- */
static void forwarded_set(sigset_t *set)
{
	sigfillset(set);
	/* Not forwarded: the ones that cannot be caught, the synchronous
	 * ones (a fault of the shim itself), SIGCHLD (QEMU's), SIGPIPE. */
	static const int keep[] = { SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP,
				    SIGSYS, SIGABRT, SIGCHLD, SIGPIPE };
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		sigdelset(set, keep[i]);
}

static bool default_terminates(int sig)
{
	return sig != SIGCHLD && sig != SIGCONT && sig != SIGURG && sig != SIGWINCH &&
	       sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU;
}

static void on_signals(struct shim *s)
{
	struct signalfd_siginfo si;
	while (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int sig = (int)si.ssi_signo;
		if (sig == SIGCHLD) {
			check_qemu(s);
			continue;
		}
		if (s->got_exit || s->fail || s->ended_by || s->end_signal)
			continue; /* the VM is ending already */
		if (s->ready) {
			char text[16];
			snprintf(text, sizeof(text), "%d", sig);
			ctl_send(s, ZLVM_SIGNAL, text, (uint32_t)strlen(text));
			zlvm_vmlog(s->vmlog, "signal %d sent to the guest", sig);
		} else if (default_terminates(sig)) {
			/* Nothing runs yet that could handle it: the replica dies of
			 * it, as a process would before it set up its handlers. */
			zlvm_vmlog(s->vmlog, "signal %d before the guest was ready: VM stopped", sig);
			s->end_signal = sig;
			kill_qemu(s);
		}
	}
}

/* ---- the loop ---- */
static int64_t min_deadline(int64_t a, int64_t b)
{
	return a <= 0 ? b : b <= 0 ? a : a < b ? a : b;
}

/* QEMU's sockets appear a moment after it starts: until both are
 * connected (or QEMU has run for CONNECT_GIVEUP_MS), look every
 * CONNECT_RETRY_MS. */
static bool connecting(const struct shim *s)
{
	if (monitor_monotonic_ms() - s->launched > CONNECT_GIVEUP_MS)
		return false;
	return (s->ctl < 0 && !s->ctl_seen) || (s->con < 0 && !s->con_seen && s->con_log >= 0);
}

static void run_loop(struct shim *s)
{
	size_t cap = 0;
	struct pollfd *p = NULL;
	while (!s->qemu_done) {
		int64_t now = monitor_monotonic_ms();
		if (connecting(s)) {
			if (now >= s->next_connect) {
				try_connect(s);
				s->next_connect = now + CONNECT_RETRY_MS;
			}
		}
		if (!s->ready && !s->got_exit && !s->fail && !s->ended_by && !s->end_signal &&
		    now >= s->ready_deadline)
			end_vm(s, "guest_not_ready",
			       zl_xasprintf("the guest did not start within %lld s (%s); see vm-console.log",
					    (long long)(s->ready_deadline - s->launched) / 1000,
					    s->a->accel));
		if (s->stop_deadline && now >= s->stop_deadline && !s->kill_sent) {
			zlvm_vmlog(s->vmlog, "QEMU did not power off within %d s: killed", POWEROFF_MS / 1000);
			kill_qemu(s);
		}
		ctl_flush(s);

		int64_t wake = 0;
		if (connecting(s))
			wake = s->next_connect;
		if (!s->ready)
			wake = min_deadline(wake, s->ready_deadline);
		if (s->stop_deadline && !s->kill_sent)
			wake = min_deadline(wake, s->stop_deadline);
		int timeout = -1;
		if (wake > 0)
			timeout = wake <= now ? 0 : (int)(wake - now);

		size_t need = 4 + s->n_clients;
		zl_grow(&p, sizeof(*p), &cap, need);
		size_t n = 0;
		p[n++] = (struct pollfd){ s->sig_fd, POLLIN, 0 };
		p[n++] = (struct pollfd){ s->ctl, (short)(POLLIN | (s->ctl_out.len ? POLLOUT : 0)), 0 };
		p[n++] = (struct pollfd){ s->con, POLLIN, 0 };
		p[n++] = (struct pollfd){ s->listen, POLLIN, 0 };
		for (size_t i = 0; i < s->n_clients; i++) {
			struct client *c = &s->clients[i];
			p[n++] = (struct pollfd){ c->fd, (short)((c->asked ? 0 : POLLIN) | (c->out.len ? POLLOUT : 0)), 0 };
		}
		if (poll(p, n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			zlvm_vmlog(s->vmlog, "poll: %s", strerror(errno));
			break;
		}
		if (p[0].revents)
			on_signals(s);
		if (s->ctl >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !ctl_read(s)) {
			close(s->ctl);
			s->ctl = -1;
		}
		if (s->ctl >= 0 && (p[1].revents & POLLOUT))
			ctl_flush(s);
		if (s->con >= 0 && p[2].revents && !con_read(s)) {
			close(s->con);
			s->con = -1;
		}
		if (p[3].revents)
			accept_clients(s);
		/* accept may have moved the array: index it afresh */
		for (size_t i = 0; i < s->n_clients && 4 + i < n; i++) {
			struct client *c = &s->clients[i];
			short ev = p[4 + i].revents;
			if (c->fd < 0 || c->fd != p[4 + i].fd || !ev)
				continue;
			if (ev & (POLLIN | POLLHUP | POLLERR))
				client_read(s, c);
			if (c->fd >= 0 && (ev & POLLOUT))
				client_write(c);
		}
		for (size_t i = 0; i < s->n_clients; i++)
			if (s->clients[i].fd >= 0 && s->clients[i].out.len)
				client_write(&s->clients[i]);
		check_qemu(s);
	}
	free(p);
	/* QEMU is gone: what it wrote before is still in the sockets. */
	if (s->ctl >= 0) {
		ctl_read(s);
		close(s->ctl);
		s->ctl = -1;
	}
	if (s->con >= 0) {
		con_read(s);
		close(s->con);
		s->con = -1;
	}
}

/* ---- the end ---- */
/* QEMU's last line in vm.log ("qemu-system-x86_64: ..."), for a crash. */
static char *qemu_last_words(struct shim *s)
{
	_cleanup_free_ char *path = bundle_path(s, "vm.log");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char buf[4096];
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	char *found = NULL;
	for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (!strncmp(line, "qemu-system", 11))
			found = line;
	if (!found)
		return NULL;
	return zl_xstrndup(found, strcspn(found, "\n"));
}

/* The shim's name before start (the runtime's, "zlvm"): zlmon takes an
 * exit under it for a process that never became the command. */
static char runtime_comm[17];

static void back_to_runtime_name(struct shim *s)
{
	prctl(PR_SET_NAME, runtime_comm, 0, 0, 0);
	zlvm_vmlog(s->vmlog, "the command was not executed: exiting as \"%s\" (zlmon records exec_failed)",
		   runtime_comm);
}

/* The last non-empty line of text (in place). */
static const char *last_line(char *text)
{
	size_t n = strlen(text);
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		text[--n] = '\0';
	char *nl = strrchr(text, '\n');
	return nl ? nl + 1 : text;
}

static struct vm_end finish(struct shim *s)
{
	struct vm_end end = { .code = 1 };
	int st = s->qemu_status;
	_cleanup_free_ char *how = WIFSIGNALED(st) ? zl_xasprintf("killed by signal %d", WTERMSIG(st))
						    : zl_xasprintf("exit %d", WEXITSTATUS(st));
	zlvm_vmlog(s->vmlog, "QEMU ended (%s) %lld ms after it started", how,
		   (long long)(monitor_monotonic_ms() - s->launched));
	if (s->got_exit) {
		end.code = s->exit_code;
		end.signal = s->exit_signal;
		/* zlinit reports a command it cannot execute as the process
		 * exiting 127/126 after Docker's words on stderr (`exec: "NAME":
		 * executable file not found in $PATH`), as runc's init does: the
		 * same name as before start tells zlmon it never ran. */
		if (!end.signal && (end.code == 126 || end.code == 127)) {
			struct zl_buf why = { 0 };
			if (monitor_exec_failure(last_line(s->err_tail), &why) == end.code)
				back_to_runtime_name(s);
			zl_buf_free(&why);
		}
		return end;
	}
	if (s->fail) {
		/* Init could not start the process (a mount, the user, the
		 * cwd...): it never ran. Exit 127/126 under the runtime's name,
		 * so zlmon records exec_failed with the FAIL line as the error;
		 * exit-detail.json says vm_start_failed. */
		struct zl_buf why = { 0 };
		int code = monitor_exec_failure(s->fail, &why);
		zl_buf_free(&why);
		write_detail(s, "vm_start_failed", s->fail);
		end.code = code ? code : 126;
		back_to_runtime_name(s);
		return end;
	}
	if (s->end_signal) {
		end.signal = s->end_signal;
		return end;
	}
	if (s->ended_by) {
		replica_stderr("zlvm: %s", s->ended_detail);
		write_detail(s, s->ended_by, s->ended_detail);
		return end;
	}
	if (s->panic) {
		_cleanup_free_ char *d = zl_xasprintf("the guest kernel panicked: %s", s->panic_line);
		replica_stderr("zlvm: %s", d);
		write_detail(s, "guest_panic", d);
		return end;
	}
	_cleanup_free_ char *words = qemu_last_words(s);
	_cleanup_free_ char *d = zl_xasprintf("the VM stopped before its process ended (QEMU %s%s%s)", how,
					      words ? ": " : "", words ? words : "");
	replica_stderr("zlvm: %s", d);
	write_detail(s, "vm_crashed", d);
	return end;
}

static void shim_free(struct shim *s)
{
	for (size_t i = 0; i < s->n_clients; i++) {
		struct client *c = &s->clients[i];
		if (c->fd >= 0 && !c->done)
			client_fail(c, "the VM stopped");
		if (c->fd >= 0) {
			/* Best effort, blocking: the client is waiting for it. */
			fcntl(c->fd, F_SETFL, 0);
			(void)zlvm_write_all(c->fd, c->out.data, c->out.len);
		}
		client_close(c);
	}
	free(s->clients);
	zl_buf_free(&s->ctl_in);
	zl_buf_free(&s->ctl_out);
	free(s->fail);
	free(s->ended_detail);
	int fds[] = { s->sig_fd, s->ctl, s->con, s->con_log, s->listen, s->vmlog };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

struct vm_end vm_shim_run(const struct vm_shim_args *a)
{
	struct vm_end end = { .code = 1 };
	/* Until start: nothing but the fifo. A signal now has its default
	 * effect (delete --force sends SIGKILL). */
	char go;
	ssize_t n;
	while ((n = read(a->fifo_fd, &go, 1)) < 0 && errno == EINTR)
		;
	close(a->fifo_fd);
	if (n != 1)
		return end;
	/* From now on an exit is the replica's, not the runtime's (zlmon
	 * compares /proc/PID/comm from before start with the one at exit). */
	prctl(PR_GET_NAME, runtime_comm, 0, 0, 0);
	prctl(PR_SET_NAME, ZLVM_SHIM_NAME, 0, 0, 0);
	if (chdir("/") < 0)
		return end;
	struct shim s = { .a = a, .sig_fd = -1, .ctl = -1, .con = -1, .con_log = -1, .listen = -1 };
	/* Declared before the first goto: their cleanup runs at the end. */
	_cleanup_free_ char *exec_sock = zl_xasprintf("%s/exec.sock", a->state_dir);
	_cleanup_free_ char *qemu_file = zl_xasprintf("%s/qemu", a->state_dir);
	_cleanup_free_ char *failed_text = NULL;
	s.vmlog = open_capped(&s, "vm.log", NULL);
	_cleanup_free_ char *detail = bundle_path(&s, "exit-detail.json");
	unlink(detail);
	zlvm_vmlog(s.vmlog, "starting %s: %lld MiB, %d vCPU, %s%s%s", a->id, (long long)a->size->mem_mib,
		   a->size->vcpus, a->accel, a->net ? ", address " : ", no network",
		   a->net ? a->net->addr : "");
	for (const char *p = a->cfg->notes.data, *nl; p && *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		zlvm_vmlog(s.vmlog, "note: %.*s", (int)(nl - p), p);
	}

	signal(SIGPIPE, SIG_IGN);
	forwarded_set(&s.forwarded);
	sigset_t mask = s.forwarded;
	sigaddset(&mask, SIGCHLD);
	signal(SIGCHLD, SIG_DFL);
	struct zl_err err = ZL_ERR_INIT;
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (s.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		zl_fail_errno(&err, "signalfd");
		goto failed;
	}
	s.listen = listen_exec(exec_sock);
	if (s.listen < 0) {
		zl_fail_errno(&err, "listen on %s", exec_sock);
		goto failed;
	}
	s.con_log = open_capped(&s, "vm-console.log", &s.con_size);
	if (launch_qemu(&s, &err) < 0)
		goto failed;
	if (a->tap_fd >= 0)
		close(a->tap_fd); /* QEMU has it; ours would keep the tap up after QEMU */
	if (zlvm_write_pid_file(qemu_file, s.qemu, &err) < 0)
		zlvm_vmlog(s.vmlog, "%s", err.msg);
	char status[64];
	snprintf(status, sizeof(status), "running %d\n", (int)s.qemu);
	set_status(&s, status);
	zlvm_vmlog(s.vmlog, "QEMU %d started", (int)s.qemu);
	s.ready_deadline = s.launched + (strcmp(a->accel, "kvm") == 0 ? READY_KVM_MS : READY_TCG_MS);
	run_loop(&s);
	end = finish(&s);
	set_status(&s, "stopped\n");
	shim_free(&s);
	return end;
failed:
	zlvm_vmlog(s.vmlog, "start failed: %s", err.msg);
	failed_text = zl_xasprintf("failed %s\n", err.msg);
	set_status(&s, failed_text);
	write_detail(&s, "vm_start_failed", err.msg);
	if (a->tap_fd >= 0)
		close(a->tap_fd);
	shim_free(&s);
	return end;
}
