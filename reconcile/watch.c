/* watch.c: zlapply watch, the one long-running mode (docs/architecture.md).
 *
 * One process, one poll() loop over
 *   - an inotify fd: each directory PATH itself, and for a file PATH its
 *     parent directory filtered by the file's name (editors save by writing
 *     a temporary file and renaming it over the old one, which a watch on
 *     the file's inode would miss);
 *   - a self-pipe written by the SIGTERM/SIGINT/SIGHUP handlers (SIGTERM
 *     and SIGINT also raise a flag the spec loader polls, so a load in
 *     progress stops at once and the watcher exits within a second);
 *   - the metrics socket and its clients (watch_metrics.c), and with
 *     --git --webhook the webhook listener (the same server, taking signed
 *     POSTs);
 * and these deadlines: a debounced reload after file events, the resync
 * interval (with --git: a fetch), a short tick that notices exited
 * replicas, and the earliest wall-clock deadline the last apply left (a
 * restart or init back-off's end, a cron time), so a replica is started
 * again when its back-off ends, not at the next resync.
 *
 * With --git (watch_git.c, git/) the specs are a commit's, written out
 * under the root; a commit whose specs do not load is refused and the
 * commit in force stays, as the last good files do.
 *
 * Drift (see its section) is reported before each apply of an unchanged
 * spec; --no-heal then skips the apply.
 *
 * Why a self-pipe and not a signalfd: a signalfd needs the signals blocked,
 * and a blocked mask is inherited by every program an apply runs (OCI
 * runtimes, iptables), which would start with SIGTERM blocked. Handlers
 * are reset by exec; a mask is not.
 *
 * Invariants: only a spec set that loaded without an error is ever applied
 * (the last good one stays in force while the files are broken); the
 * watcher never stops or removes anything because it exits. */
#include "watch-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#define TICK_MS 500          /* how soon an exited replica is noticed */
#define DEBOUNCE_MS 300      /* quiet time after the last file event */
#define DEBOUNCE_MAX_MS 2000 /* a file written without pause is still read */
#define APPLY_LOCK_WAIT_MS 2000
#define DIR_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | \
		    IN_MOVE_SELF | IN_ONLYDIR)

/* One watched PATH. */
struct watch_target {
	const char *path; /* as given */
	bool is_dir;
	char *dir;  /* the directory watched: path itself, or a file's parent */
	char *name; /* a file's name within dir; NULL for a directory */
	int wd;     /* -1 when not armed (the directory went away) */
	int file_wd; /* the file itself (follows a symlink); -1 when not armed */
};

struct watch {
	const struct watch_opts *o;
	struct reconcile_opts ropts;
	int64_t interval_ms;
	struct watch_target *targets;
	size_t target_count;
	int inotify_fd;
	struct watch_metrics *metrics;
	/* --git: the specs come from a commit, not from -f paths */
	struct watch_git *git;
	struct watch_metrics *webhook;
	char git_pending[41]; /* loaded, applied at the next apply that runs */
	char *git_reported;   /* the git error last logged, so repeats stay short */
	uint64_t git_errors;

	struct spec_set set;  /* the last good set */
	bool have_set;
	bool spec_valid;
	char *last_report;    /* diagnostics last reported, so repeats stay short */

	struct state_replicas rows; /* the latest observation */
	char *fingerprint;    /* of our replicas' states, as last seen */
	int64_t backoff_next; /* wall clock: the earliest back-off end of an exited replica */
	int64_t cron_next;    /* wall clock: the earliest next cron time recorded; 0 none */

	char *applied_spec;   /* spec_fingerprint() of the set last applied; NULL none */
	char *drift_seen;     /* drift lines last reported, so each is reported once */
	uint64_t drift_total;

	const char *pending;  /* an apply is due; why ("replica changed", ...) */
	bool lock_busy;       /* the last attempt found another zlapply's lock */
	int64_t reload_at;    /* monotonic; 0 = no reload due */
	int64_t first_event;  /* monotonic time of the first event of this burst */
	const char *reload_why;

	int64_t last_apply_ms;
	uint64_t applies_ok, applies_failed;
};

/* ---- logfmt lines on stderr ---- */

struct logline {
	struct zl_buf b;
	bool on;
};

static void lf_quoted(struct zl_buf *b, const char *s)
{
	zl_buf_puts(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			zl_buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			zl_buf_puts(b, "\\n");
		else if (*p == '\t')
			zl_buf_puts(b, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			zl_buf_printf(b, "\\u%04x", *p);
		else
			zl_buf_append(b, p, 1);
	}
	zl_buf_puts(b, "\"");
}

static bool lbegin(struct logline *l, enum zl_log_level level, const char *msg)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	memset(l, 0, sizeof(*l));
	l->on = level <= zl_log_get_level();
	if (!l->on)
		return false;
	char now[32];
	zl_format_time(zl_now_ms(), now);
	zl_buf_printf(&l->b, "time=%s level=%s msg=", now, names[level]);
	lf_quoted(&l->b, msg);
	return true;
}

static void lstr(struct logline *l, const char *key, const char *value)
{
	if (!l->on || !value)
		return;
	zl_buf_printf(&l->b, " %s=", key);
	bool plain = *value != '\0';
	for (const char *p = value; *p && plain; p++)
		plain = *p > ' ' && *p != '"' && *p != '=' && *p != '\\' && *p != 0x7f;
	if (plain)
		zl_buf_puts(&l->b, value);
	else
		lf_quoted(&l->b, value);
}

static void lint(struct logline *l, const char *key, int64_t value)
{
	if (l->on)
		zl_buf_printf(&l->b, " %s=%lld", key, (long long)value);
}

static void lend(struct logline *l)
{
	if (!l->on)
		return;
	zl_buf_puts(&l->b, "\n");
	/* One write per line, so lines never interleave with a child's output. */
	fwrite(l->b.data, 1, l->b.len, stderr);
	fflush(stderr);
	zl_buf_free(&l->b);
}

/* A plain message, and what zl_log() says from inside an apply. */
static void log_msg(enum zl_log_level level, const char *msg)
{
	struct logline l;
	lbegin(&l, level, msg);
	lend(&l);
}

/* ---- signals ---- */

static int signal_pipe_w = -1;
/* Raised by SIGTERM/SIGINT: a spec load in progress polls it and stops
 * (spec_set_interrupt_flag), so no file can delay the exit; nothing is
 * applied once it is up. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int signo)
{
	int saved = errno;
	if (signo != SIGHUP)
		stop_requested = 1;
	unsigned char b = (unsigned char)signo;
	/* A full pipe already holds a wake-up; losing this byte loses nothing. */
	if (write(signal_pipe_w, &b, 1) < 0)
		errno = saved;
	errno = saved;
}

static const int watched_signals[] = { SIGTERM, SIGINT, SIGHUP };
#define SIGNAL_COUNT (sizeof(watched_signals) / sizeof(watched_signals[0]))

struct signal_state {
	int pipe[2];
	struct sigaction old[SIGNAL_COUNT], old_pipe;
};

static int signals_install(struct signal_state *s, struct zl_err *err)
{
	if (pipe2(s->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return zl_fail_errno(err, "watch: pipe");
	signal_pipe_w = s->pipe[1];
	stop_requested = 0;
	spec_set_interrupt_flag(&stop_requested);
	/* SA_RESTART: an apply in progress carries on; the loop sees the byte. */
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < SIGNAL_COUNT; i++)
		if (sigaction(watched_signals[i], &sa, &s->old[i]) < 0)
			return zl_fail_errno(err, "watch: sigaction");
	/* A metrics client that hangs up must not kill the watcher. */
	struct sigaction ign = { .sa_handler = SIG_IGN };
	sigemptyset(&ign.sa_mask);
	if (sigaction(SIGPIPE, &ign, &s->old_pipe) < 0)
		return zl_fail_errno(err, "watch: sigaction");
	return 0;
}

static void signals_restore(struct signal_state *s)
{
	if (signal_pipe_w < 0)
		return;
	spec_set_interrupt_flag(NULL);
	for (size_t i = 0; i < SIGNAL_COUNT; i++)
		(void)sigaction(watched_signals[i], &s->old[i], NULL); /* only fails on bad args */
	(void)sigaction(SIGPIPE, &s->old_pipe, NULL);
	signal_pipe_w = -1;
	close(s->pipe[0]);
	close(s->pipe[1]);
}

/* ---- the files ---- */

static bool spec_file_name(const char *name)
{
	/* What spec_load_paths() reads from a directory. */
	return name[0] != '.' &&
	       (zl_str_has_suffix(name, ".yaml") || zl_str_has_suffix(name, ".yml"));
}

static int targets_init(struct watch *w, struct zl_err *err)
{
	w->targets = zl_xcalloc(w->o->path_count + 1, sizeof(*w->targets));
	for (size_t i = 0; i < w->o->path_count; i++) {
		const char *path = w->o->paths[i];
		struct watch_target *t = &w->targets[w->target_count++];
		t->path = path;
		t->wd = t->file_wd = -1;
		if (strcmp(path, "-") == 0)
			return zl_invalid(err, "watch: cannot watch stdin (-f -); give a file or a directory");
		struct stat st;
		if (stat(path, &st) < 0)
			return zl_err_set(err, ZL_ERR_INPUT, errno, "watch: %s", path);
		t->is_dir = S_ISDIR(st.st_mode);
		if (t->is_dir) {
			t->dir = zl_xstrdup(path);
			continue;
		}
		const char *slash = strrchr(path, '/');
		t->dir = slash ? (slash == path ? zl_xstrdup("/") : zl_xstrndup(path, (size_t)(slash - path)))
			       : zl_xstrdup(".");
		t->name = zl_xstrdup(slash ? slash + 1 : path);
	}
	return 0;
}

static void targets_free(struct watch *w)
{
	for (size_t i = 0; i < w->target_count; i++) {
		free(w->targets[i].dir);
		free(w->targets[i].name);
	}
	free(w->targets);
}

/* (Re)adds every watch. Adding a watch that exists returns the same
 * descriptor, so this runs before every load: a directory that was
 * removed and created again, or a file replaced by rename, is followed. */
static int targets_arm(struct watch *w, struct zl_err *err)
{
	for (size_t i = 0; i < w->target_count; i++) {
		struct watch_target *t = &w->targets[i];
		t->wd = inotify_add_watch(w->inotify_fd, t->dir, DIR_EVENTS);
		if (t->wd < 0) {
			if (err && errno != ENOENT && errno != ENOTDIR)
				return zl_fail_errno(err, "watch: inotify %s", t->dir);
			zl_log(ZL_LOG_DEBUG, "watch: inotify %s: %s", t->dir, strerror(errno));
		}
		if (!t->is_dir)
			t->file_wd = inotify_add_watch(w->inotify_fd, t->path, IN_CLOSE_WRITE);
	}
	return 0;
}

/* Does this event touch a file the specs are read from? */
static bool event_relevant(struct watch *w, const struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW)
		return true; /* events were lost: read everything again */
	bool hit = false;
	for (size_t i = 0; i < w->target_count; i++) {
		struct watch_target *t = &w->targets[i];
		if (ev->wd == t->file_wd) {
			if (ev->mask & IN_IGNORED)
				t->file_wd = -1;
			hit = hit || (ev->mask & IN_CLOSE_WRITE);
		}
		if (ev->wd != t->wd)
			continue;
		if (ev->mask & IN_IGNORED) {
			t->wd = -1; /* re-armed at the next load */
			continue;
		}
		if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))
			hit = true;
		else if (ev->len > 0)
			hit = hit || (t->is_dir ? spec_file_name(ev->name) : strcmp(ev->name, t->name) == 0);
	}
	return hit;
}

static void read_events(struct watch *w, int64_t now)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(w->inotify_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* EAGAIN: drained */
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			if (event_relevant(w, ev)) {
				if (!w->reload_at) {
					w->first_event = now;
					w->reload_why = "file changed";
				}
				int64_t at = now + DEBOUNCE_MS;
				int64_t cap = w->first_event + DEBOUNCE_MAX_MS;
				w->reload_at = at < cap ? at : cap;
				struct logline l;
				if (lbegin(&l, ZL_LOG_DEBUG, "file event")) {
					lstr(&l, "name", ev->len ? ev->name : "");
					lint(&l, "mask", ev->mask);
				}
				lend(&l);
			}
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* The diagnostics as text, one per line ("" when none). Caller frees. */
static char *diags_text(const struct spec_diags *d)
{
	struct zl_buf b = { 0 };
	for (size_t i = 0; i < d->count; i++) {
		const struct spec_diag *x = &d->items[i];
		zl_buf_printf(&b, "%s:%d:%d: %s%s: %s\n", x->file, x->line, x->col,
			      x->is_note ? "note: " : "", x->path ? x->path : "", x->msg);
	}
	return zl_buf_steal(&b);
}

static void report_diags(const struct spec_diags *d, bool errors)
{
	for (size_t i = 0; i < d->count; i++) {
		const struct spec_diag *x = &d->items[i];
		if (errors == x->is_note)
			continue;
		struct logline l;
		lbegin(&l, errors ? ZL_LOG_ERROR : ZL_LOG_INFO, errors ? "invalid spec" : "spec note");
		lstr(&l, "file", x->file);
		lint(&l, "line", x->line);
		lint(&l, "col", x->col);
		lstr(&l, "key", x->path && *x->path ? x->path : NULL);
		lstr(&l, "problem", x->msg);
		lend(&l);
	}
}

/* Reads the files again. A set with an error is reported and dropped: the
 * last good set stays. Returns 0 when the files loaded. */
static int reload(struct watch *w, const char *why, const char *const *paths, size_t count)
{
	(void)targets_arm(w, NULL); /* a missing path shows up as a load error */
	struct spec_set set = { 0 };
	struct spec_diags diags;
	/* with what apply would refuse on this host: see reconcile_spec_load */
	int r = reconcile_spec_load_diags(paths, count, true, &set, &diags);
	if (stop_requested) {
		/* Stopping: whatever was read is dropped unreported. */
		spec_set_free(&set);
		spec_diags_free(&diags);
		return -1;
	}
	bool ok = r == 0 && diags.errors == 0;
	_cleanup_free_ char *text = diags_text(&diags);
	bool repeat = w->last_report && strcmp(w->last_report, text) == 0;
	if (!ok) {
		if (!repeat)
			report_diags(&diags, true);
		struct logline l;
		lbegin(&l, repeat ? ZL_LOG_DEBUG : ZL_LOG_WARN,
		       w->have_set ? "spec invalid; the last good state stays in force"
				   : "spec invalid; nothing applied until it loads");
		lstr(&l, "commit", w->git ? paths[0] + strlen(paths[0]) - 40 : NULL);
		lint(&l, "errors", (int64_t)diags.errors);
		lstr(&l, "trigger", why);
		lend(&l);
		spec_set_free(&set);
	} else {
		if (!repeat)
			report_diags(&diags, false);
		if (!w->spec_valid && w->have_set)
			log_msg(ZL_LOG_INFO, "spec valid again");
		spec_set_free(&w->set);
		w->set = set;
		w->have_set = true;
		struct logline l;
		lbegin(&l, strcmp(why, "resync") == 0 ? ZL_LOG_DEBUG : ZL_LOG_INFO, "spec loaded");
		lint(&l, "deployments", (int64_t)w->set.count);
		lstr(&l, "trigger", why);
		lend(&l);
	}
	free(w->last_report);
	w->last_report = zl_xstrdup(text);
	w->spec_valid = ok;
	spec_diags_free(&diags);
	return ok ? 0 : -1;
}

/* ---- observing ---- */

/* The earlier of two deadlines; 0 is "none". */
static int64_t earliest(int64_t a, int64_t b)
{
	return a && (!b || a < b) ? a : b;
}

static bool in_set(const struct spec_set *set, const char *deployment)
{
	for (size_t i = 0; i < set->count; i++)
		if (strcmp(set->deployments[i].name, deployment) == 0)
			return true;
	return false;
}

static const struct state_replica *row_find(const struct state_replicas *rows,
					    const struct state_replica *like)
{
	for (size_t i = 0; i < rows->count; i++) {
		const struct state_replica *r = &rows->items[i];
		if (r->index == like->index && strcmp(r->service, like->service) == 0 &&
		    strcmp(r->deployment, like->deployment) == 0)
			return r;
	}
	return NULL;
}

/* Looks at our replicas (no subprocess, nothing written). Returns true
 * when one of them changed state since the last look (log says which).
 * Updates rows, fingerprint and the next back-off end. */
static bool observe(struct watch *w, bool log_changes)
{
	struct state_replicas rows = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	if (reconcile_status(w->ropts.root, NULL, &rows, &err) < 0) {
		zl_log(ZL_LOG_DEBUG, "watch: status: %s", err.msg);
		return false; /* the database is busy or broken: the next tick looks again */
	}
	struct zl_buf fp = { 0 };
	int64_t now = zl_now_ms(), backoff_next = 0;
	for (size_t i = 0; i < rows.count; i++) {
		const struct state_replica *r = &rows.items[i];
		if (!w->have_set || !in_set(&w->set, r->deployment))
			continue;
		zl_buf_printf(&fp, "%s/%s/%d %s %lld\n", r->deployment, r->service, r->index,
			      state_replica_state_name(r->state), (long long)r->pid);
		/* A crash's restart back-off (exited), or an init's retry
		 * back-off (failed, errors.on_init_failure: backoff). */
		if (r->state != STATE_REPLICA_RUNNING && r->backoff_until > now &&
		    (!backoff_next || r->backoff_until < backoff_next))
			backoff_next = r->backoff_until;
		if (!log_changes)
			continue;
		const struct state_replica *old = row_find(&w->rows, r);
		if (old && old->state == r->state && old->pid == r->pid)
			continue;
		struct logline l;
		lbegin(&l, ZL_LOG_INFO, "replica changed");
		lstr(&l, "deployment", r->deployment);
		char name[256];
		snprintf(name, sizeof(name), "%s-rep-%d", r->service, r->index);
		lstr(&l, "replica", name);
		lstr(&l, "state", state_replica_state_name(r->state));
		if (r->state == STATE_REPLICA_EXITED) {
			const char *sig = r->exit_signal ? spec_signal_name(r->exit_signal) : NULL;
			if (sig)
				lstr(&l, "signal", sig);
			else if (r->exit_signal)
				lint(&l, "signal", r->exit_signal);
			else
				lint(&l, "exit_code", r->exit_code);
		}
		lend(&l);
	}
	_cleanup_free_ char *text = zl_buf_steal(&fp);
	bool changed = !w->fingerprint || strcmp(w->fingerprint, text) != 0;
	free(w->fingerprint);
	w->fingerprint = zl_xstrdup(text);
	w->backoff_next = backoff_next;
	state_replicas_free(&w->rows);
	w->rows = rows;
	return changed;
}

/* The earliest next cron time of the set's services, from the schedules
 * the last apply recorded: the loop wakes for it instead of waiting for
 * the resync. Schedules change only when an apply runs, so this is read
 * after each apply, not at every tick. */
static void cron_next_load(struct watch *w)
{
	struct state_runs runs = { 0 };
	struct state_schedules sched = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	w->cron_next = 0;
	if (reconcile_status_runs(w->ropts.root, NULL, &runs, &sched, &err) < 0) {
		zl_log(ZL_LOG_DEBUG, "watch: schedules: %s", err.msg);
		return; /* the resync still runs what is due */
	}
	for (size_t i = 0; i < sched.count; i++) {
		const struct state_schedule *c = &sched.items[i];
		if (c->next_s >= 0 && w->have_set && in_set(&w->set, c->deployment))
			w->cron_next = earliest(w->cron_next, c->next_s * 1000);
	}
	state_runs_free(&runs);
	state_schedules_free(&sched);
}

/* ---- drift ----
 * Drift is what the latest observation shows against a spec that has not
 * changed since it was last applied: a replica the spec says should run
 * that exited (and its restart policy wants it back), that its backend no
 * longer knows (removed by hand), or whose record is gone. The first apply
 * of a spec (at start, or after the files or the commit changed) is never
 * drift: it is the spec being carried out. */

/* What identifies the set as applied: each service's canonical hash and
 * replica count. NULL when a hash cannot be made (a missing secret): the
 * set then counts as changed. Caller frees. */
static char *spec_fingerprint(const struct watch *w)
{
	_cleanup_free_ char *secrets = zl_xasprintf("%s/secrets", w->ropts.root);
	struct zl_buf b = { 0 };
	for (size_t d = 0; d < w->set.count; d++) {
		const struct spec_deployment *dep = &w->set.deployments[d];
		for (size_t i = 0; i < dep->service_count; i++) {
			const struct spec_service *svc = &dep->services[i];
			char hash[65];
			char *sections = NULL;
			struct zl_err err = ZL_ERR_INIT;
			if (spec_service_hash(dep, svc, secrets, hash, &sections, &err) < 0) {
				zl_buf_free(&b);
				return NULL;
			}
			free(sections);
			zl_buf_printf(&b, "%s/%s %d %s\n", dep->name, svc->name,
				      spec_service_desired_replicas(svc), hash);
		}
	}
	return zl_buf_steal(&b);
}

/* One drifted replica, "DEPLOYMENT/SERVICE-rep-N STATE" in lines. */
static void drift_add(struct zl_buf *lines, const char *dep, const char *svc, int index,
		      const char *what)
{
	zl_buf_printf(lines, "%s/%s-rep-%d %s\n", dep, svc, index, what);
}

/* The drift in w->rows against w->set, one line per replica ("" none).
 * Caller frees. */
static char *drift_find(const struct watch *w)
{
	struct zl_buf lines = { 0 };
	for (size_t d = 0; d < w->set.count; d++) {
		const struct spec_deployment *dep = &w->set.deployments[d];
		for (size_t i = 0; i < dep->service_count; i++) {
			const struct spec_service *svc = &dep->services[i];
			if (svc->rtype != SPEC_RTYPE_SERVICE)
				continue; /* jobs and cron runs end by design */
			int want = spec_service_desired_replicas(svc);
			for (int n = 1; n <= want; n++) {
				const struct state_replica like = { .deployment = dep->name,
								    .service = svc->name,
								    .index = n };
				const struct state_replica *r = row_find(&w->rows, &like);
				if (!r)
					drift_add(&lines, dep->name, svc->name, n, "missing");
				else if (r->state == STATE_REPLICA_UNKNOWN)
					drift_add(&lines, dep->name, svc->name, n, "lost");
				else if (r->state == STATE_REPLICA_EXITED && plan_restart_wanted(svc, r))
					drift_add(&lines, dep->name, svc->name, n, "exited");
			}
		}
	}
	return zl_buf_steal(&lines);
}

static bool has_line(const char *text, const char *line, size_t len)
{
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l == len && memcmp(p, line, len) == 0)
			return true;
		p = nl ? nl + 1 : p + l;
	}
	return false;
}

/* Reports each drifted replica not reported since it last matched: a log
 * line, an event "drift" and zlapply_drift_total. Returns how many replicas
 * drift now. */
static size_t drift_report(struct watch *w)
{
	_cleanup_free_ char *now = drift_find(w);
	struct state_db *db = NULL;
	struct zl_err err = ZL_ERR_INIT;
	size_t count = 0;
	for (const char *p = now; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = (size_t)(nl - p);
		count++;
		if (!has_line(w->drift_seen, p, len)) {
			_cleanup_free_ char *line = zl_xstrndup(p, len);
			char *slash = strchr(line, '/'), *space = strrchr(line, ' ');
			*slash = *space = '\0';
			char *rep = strstr(slash + 1, "-rep-");
			w->drift_total++;
			struct logline l;
			lbegin(&l, ZL_LOG_WARN, "drift");
			lstr(&l, "deployment", line);
			lstr(&l, "replica", slash + 1);
			lstr(&l, "state", space + 1);
			lstr(&l, "action", w->o->no_heal ? "reported (--no-heal)" : "repair");
			lend(&l);
			if (!db && state_open(w->ropts.root, false, &db, &err) < 0)
				zl_log(ZL_LOG_WARN, "watch: drift event: %s", err.msg);
			_cleanup_free_ char *service = zl_xstrndup(slash + 1, (size_t)(rep - slash - 1));
			_cleanup_free_ char *msg = zl_xasprintf(
				"%s %s while the spec did not change; %s", slash + 1, space + 1,
				w->o->no_heal ? "not repaired (--no-heal)" : "repaired by watch");
			if (db && state_event_add(db, zl_now_ms(), line, service, atoi(rep + 5), "drift",
						  msg, &err) < 0)
				zl_log(ZL_LOG_WARN, "watch: drift event: %s", err.msg);
		}
		p = nl + 1;
	}
	state_close(db);
	free(w->drift_seen);
	w->drift_seen = zl_xstrdup(now);
	return count;
}

/* After an apply: a replica it repaired is forgotten, so drifting again is
 * reported again; one still waiting (a restart back-off) stays reported. */
static void drift_forget_repaired(struct watch *w)
{
	if (!w->drift_seen)
		return;
	_cleanup_free_ char *now = drift_find(w);
	struct zl_buf kept = { 0 };
	for (const char *p = w->drift_seen; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = (size_t)(nl - p) + 1;
		if (has_line(now, p, len - 1))
			zl_buf_append(&kept, p, len);
		p = nl + 1;
	}
	free(w->drift_seen);
	w->drift_seen = zl_buf_steal(&kept);
}

/* ---- applying ---- */

static void log_actions(const char *lines)
{
	for (const char *p = lines; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		_cleanup_free_ char *action = zl_xstrndup(p, len);
		struct logline l;
		lbegin(&l, ZL_LOG_INFO, "action");
		lstr(&l, "action", action);
		lend(&l);
		p = nl ? nl + 1 : p + len;
	}
}

/* Applies the last good set, unless another zlapply holds the lock: then
 * the apply stays pending and the next tick tries again, so the watcher
 * never sits in a lock wait while signals and exits pile up. */
static void apply_now(struct watch *w, const char *why)
{
	if (!w->have_set) {
		w->pending = NULL;
		return;
	}
	_cleanup_free_ char *fp = spec_fingerprint(w);
	bool spec_changed = !fp || !w->applied_spec || strcmp(fp, w->applied_spec) != 0;
	if (!spec_changed) {
		size_t drifted = drift_report(w);
		if (w->o->no_heal) {
			/* Report only: with the spec unchanged, an apply could only
			 * repair what drifted. */
			w->pending = NULL;
			struct logline l;
			lbegin(&l, ZL_LOG_DEBUG, "not applied (--no-heal)");
			lstr(&l, "trigger", why);
			lint(&l, "drifted", (int64_t)drifted);
			lend(&l);
			return;
		}
	} else {
		free(w->drift_seen); /* a new spec: what drifted before is moot */
		w->drift_seen = NULL;
	}
	struct state_lock probe = { .fd = -1 };
	struct zl_err err = ZL_ERR_INIT;
	if (state_lock_acquire(w->ropts.root, 0, &probe, &err) < 0) {
		if (!w->lock_busy) {
			/* Busy is another zlapply at work; anything else (a root
			 * zlapply cannot write) needs a human, though it is retried. */
			bool busy = err.sys_errno == EWOULDBLOCK;
			struct logline l;
			lbegin(&l, busy ? ZL_LOG_INFO : ZL_LOG_ERROR,
			       busy ? "lock busy; will retry" : "cannot take the lock; will retry");
			lstr(&l, "trigger", why);
			lstr(&l, "error", err.msg);
			lend(&l);
		}
		w->lock_busy = true;
		w->pending = why;
		return;
	}
	state_lock_release(&probe);
	w->lock_busy = false;
	w->pending = NULL;

	char *out = NULL;
	size_t out_len = 0;
	FILE *plan_out = open_memstream(&out, &out_len);
	if (!plan_out) {
		fprintf(stderr, "zlapply: out of memory\n");
		abort();
	}
	w->ropts.plan_out = plan_out;
	/* watch --git: the revisions this apply records come from the commit */
	_cleanup_free_ char *git_source = NULL;
	const char *commit = w->git_pending[0] ? w->git_pending : w->git ? watch_git_commit(w->git) : NULL;
	if (w->git && commit && *commit)
		git_source = zl_xasprintf("git %s@%s", watch_git_url(w->git), commit);
	w->ropts.source = git_source;
	struct reconcile_result res = { 0 };
	int64_t t0 = zl_monotonic_ms();
	int r = reconcile_apply(&w->ropts, &w->set, &res, &err);
	w->last_apply_ms = zl_monotonic_ms() - t0;
	fclose(plan_out);
	w->ropts.plan_out = NULL;
	w->ropts.source = NULL;
	log_actions(out);
	free(out);
	free(w->applied_spec);
	w->applied_spec = fp ? zl_xstrdup(fp) : NULL;
	if (w->git_pending[0]) {
		watch_git_applied(w->git, w->ropts.root, &w->set, w->git_pending);
		w->git_pending[0] = '\0';
	}

	struct logline l;
	if (r < 0) {
		w->applies_failed++;
		lbegin(&l, ZL_LOG_ERROR, "apply failed");
	} else {
		w->applies_ok++;
		lbegin(&l, res.actions_planned > 0 ? ZL_LOG_INFO : ZL_LOG_DEBUG,
		       res.actions_planned > 0 ? "applied" : "up to date");
	}
	lstr(&l, "trigger", why);
	lint(&l, "actions", (int64_t)res.actions_done);
	if (r < 0) {
		lint(&l, "failed", (int64_t)res.actions_failed);
		lstr(&l, "error", err.msg);
	}
	lint(&l, "duration_ms", w->last_apply_ms);
	lend(&l);
	/* What the apply left is the new baseline for the exit check. */
	observe(w, false);
	drift_forget_repaired(w);
	cron_next_load(w);
}

/* ---- git (--git) ---- */

/* Logs a git error, once while it stays the same, and counts it. */
static void git_report(struct watch *w, const char *msg, const char *error, const char *commit,
		       const char *why)
{
	w->git_errors++;
	bool repeat = w->git_reported && strcmp(w->git_reported, error) == 0;
	struct logline l;
	lbegin(&l, repeat ? ZL_LOG_DEBUG : ZL_LOG_ERROR, msg);
	lstr(&l, "url", watch_git_url(w->git));
	lstr(&l, "commit", commit);
	lstr(&l, "error", error);
	lstr(&l, "in_force", watch_git_commit(w->git));
	lstr(&l, "trigger", why);
	lend(&l);
	free(w->git_reported);
	w->git_reported = zl_xstrdup(error);
}

/* Fetches; a new commit whose specs load is applied, one whose specs do not
 * is refused (the commit in force stays). Returns true when it applied. */
static bool git_sync(struct watch *w, const char *why, bool use_local)
{
	char commit[41] = "";
	_cleanup_free_ char *dir = NULL;
	struct zl_err err = ZL_ERR_INIT;
	int r = watch_git_next(w->git, use_local, commit, &dir, &err);
	if (stop_requested)
		return false;
	if (r < 0 && err.kind == ZL_ERR_INPUT && commit[0]) {
		/* The commit itself is bad (--path, a symlink out of the tree). */
		watch_git_refused(w->git, w->ropts.root, w->have_set ? &w->set : NULL, commit, err.msg);
		git_report(w, "commit refused; the commit in force stays", err.msg, commit, why);
		return false;
	}
	if (r < 0 || watch_git_error(w->git))
		git_report(w, r < 0 ? "git fetch failed; the commit in force stays"
				    : "git fetch failed; applying the commit fetched before",
			   watch_git_error(w->git), NULL, why);
	else if (w->git_reported && !watch_git_error(w->git)) {
		log_msg(ZL_LOG_INFO, "git fetch works again");
		free(w->git_reported);
		w->git_reported = NULL;
	}
	if (r <= 0)
		return false;
	const char *const paths[] = { dir };
	if (reload(w, why, paths, 1) < 0) {
		if (stop_requested)
			return false;
		_cleanup_free_ char *msg = zl_xasprintf("its specs do not load (%s)", w->last_report);
		msg[strcspn(msg, "\n")] = '\0';
		watch_git_refused(w->git, w->ropts.root, w->have_set ? &w->set : NULL, commit, msg);
		git_report(w, "commit refused; the commit in force stays", msg, commit, why);
		return false;
	}
	struct logline l;
	lbegin(&l, ZL_LOG_INFO, "git commit");
	lstr(&l, "url", watch_git_url(w->git));
	lstr(&l, "commit", commit);
	lstr(&l, "previous", watch_git_commit(w->git));
	lstr(&l, "trigger", why);
	lend(&l);
	snprintf(w->git_pending, sizeof(w->git_pending), "%s", commit);
	apply_now(w, why);
	return true;
}

/* What a file event, SIGHUP or the start asks for: read the specs again
 * (the files, or a fetch) and apply them. */
static void refresh(struct watch *w, const char *why)
{
	if (w->git) {
		git_sync(w, why, strcmp(why, "start") == 0);
		return;
	}
	if (reload(w, why, w->o->paths, w->o->path_count) == 0 && !stop_requested)
		apply_now(w, why);
}

/* ---- the loop ---- */

static struct watch_snapshot snapshot(const struct watch *w)
{
	return (struct watch_snapshot){
		.set = w->have_set ? &w->set : NULL,
		.rows = &w->rows,
		.last_apply_ms = w->last_apply_ms,
		.applies_ok = w->applies_ok,
		.applies_failed = w->applies_failed,
		.spec_valid = w->spec_valid,
		.opts = &w->ropts, /* stats: per-replica usage on each scrape */
		.drift_total = w->drift_total,
		.git_url = w->git ? watch_git_url(w->git) : NULL,
		.git_commit = w->git ? watch_git_commit(w->git) : NULL,
		.git_error = w->git ? watch_git_error(w->git) : NULL,
		.git_errors = w->git_errors,
	};
}

/* The earliest wall-clock deadline the reconciler left (a back-off end, a
 * cron time) as a monotonic time, so poll() wakes for it and not at the
 * next resync; 0 none. While the lock is busy the tick retries instead. */
static int64_t timed_wake(const struct watch *w, int64_t now_mono)
{
	int64_t at = earliest(w->backoff_next, w->cron_next);
	if (!at || w->lock_busy)
		return 0;
	int64_t left = at - zl_now_ms();
	return now_mono + (left > 0 ? left : 0);
}

/* Which deadline has come, if one has ("back-off over", "cron due"). It is
 * cleared here: the apply it causes (or the observation after a skipped
 * one) sets the next. */
static const char *timed_due(struct watch *w)
{
	int64_t now = zl_now_ms();
	if (w->lock_busy)
		return NULL;
	if (w->backoff_next && now >= w->backoff_next) {
		w->backoff_next = 0;
		return "back-off over";
	}
	if (w->cron_next && now >= w->cron_next) {
		w->cron_next = 0;
		return "cron due";
	}
	return NULL;
}

/* Drains the signal pipe. Returns the stop signal, or 0. */
static int read_signals(struct watch *w, int fd, int64_t now)
{
	unsigned char sig[16];
	int stop = 0;
	ssize_t n;
	while ((n = read(fd, sig, sizeof(sig))) > 0)
		for (ssize_t i = 0; i < n; i++) {
			if (sig[i] == SIGHUP) {
				w->reload_at = now;
				w->reload_why = "SIGHUP";
			} else {
				stop = sig[i];
			}
		}
	return stop;
}

/* Runs until a stop signal (returns 0) or until poll() itself fails. */
static int run_loop(struct watch *w, int signal_fd, struct zl_err *err)
{
	enum { MAX_FDS = 2 + 2 * (1 + 16) };
	int64_t now = zl_monotonic_ms();
	int64_t next_resync = now + w->interval_ms, next_tick = now + TICK_MS;
	for (;;) {
		struct pollfd fds[MAX_FDS] = {
			{ .fd = signal_fd, .events = POLLIN },
			{ .fd = w->inotify_fd, .events = POLLIN },
		};
		int64_t deadline = earliest(earliest(next_resync, next_tick), w->reload_at);
		deadline = earliest(deadline, timed_wake(w, zl_monotonic_ms()));
		size_t nm = watch_metrics_pollfds(w->metrics, fds + 2, MAX_FDS - 2, &deadline);
		size_t nh = watch_metrics_pollfds(w->webhook, fds + 2 + nm, MAX_FDS - 2 - nm, &deadline);
		now = zl_monotonic_ms();
		int timeout = deadline <= now ? 0 : (int)(deadline - now);
		if (poll(fds, 2 + nm + nh, timeout) < 0 && errno != EINTR)
			return zl_fail_errno(err, "watch: poll");
		now = zl_monotonic_ms();
		if (fds[0].revents) {
			int stop = read_signals(w, signal_fd, now);
			if (stop) {
				struct logline l;
				lbegin(&l, ZL_LOG_INFO, "stopping; containers keep running");
				lstr(&l, "signal", stop == SIGTERM ? "SIGTERM" : stop == SIGINT ? "SIGINT" : "?");
				lend(&l);
				return 0;
			}
		}
		if (fds[1].revents)
			read_events(w, now);
		struct watch_snapshot s = snapshot(w);
		watch_metrics_handle(w->metrics, fds + 2, nm, now, &s);
		watch_metrics_handle(w->webhook, fds + 2 + nm, nh, now, &s);
		if (watch_webhook_take(w->webhook) && !stop_requested) {
			log_msg(ZL_LOG_INFO, "webhook; fetching");
			git_sync(w, "webhook", false);
			now = zl_monotonic_ms();
		}

		if (w->reload_at && now >= w->reload_at) {
			const char *why = w->reload_why;
			w->reload_at = 0;
			refresh(w, why);
			now = zl_monotonic_ms();
		}
		if (stop_requested)
			continue; /* the signal pipe has the byte: poll returns at once */
		if (now >= next_resync) {
			/* Read the files too: an event inotify missed (a file behind a
			 * symlink, a network filesystem) is caught here. A broken file
			 * does not stop the last good state from being enforced. */
			bool applied = false;
			if (w->git)
				applied = git_sync(w, "resync", false);
			else
				reload(w, "resync", w->o->paths, w->o->path_count);
			if (stop_requested)
				continue;
			if (!applied)
				apply_now(w, "resync");
			now = zl_monotonic_ms();
			next_resync = now + w->interval_ms;
		}
		const char *due = timed_due(w);
		if ((now >= next_tick || due) && !stop_requested) {
			if (w->have_set) {
				if (observe(w, true))
					w->pending = "replica changed";
				else if (due)
					w->pending = due;
				if (w->pending)
					apply_now(w, w->pending);
			}
			now = zl_monotonic_ms();
			next_tick = now + TICK_MS;
		}
	}
}

/* Flags that go together (kind INPUT). */
static int watch_opts_check(const struct watch_opts *o, struct zl_err *err)
{
	const struct watch_git_opts *g = &o->git;
	if (g->url && o->path_count > 0)
		return zl_invalid(err, "watch: give -f FILE|DIR or --git URL, not both");
	if (!g->url && o->path_count == 0)
		return zl_invalid(err, "watch needs -f FILE|DIR or --git URL");
	const char *git_only = g->branch ? "--branch" : g->path ? "--path" : g->webhook ? "--webhook"
		: g->webhook_secret_file ? "--webhook-secret-file" : g->ssh_key_file ? "--git-ssh-key"
		: g->token_file ? "--git-token-file" : g->host_key ? "--git-host-key"
		: g->ca_file ? "--git-ca-file" : NULL;
	if (!g->url && git_only)
		return zl_invalid(err, "%s goes with --git URL", git_only);
	return 0;
}

static void watch_log_sink(enum zl_log_level level, const char *msg)
{
	log_msg(level, msg);
}

int reconcile_watch(const struct watch_opts *opts, struct zl_err *err)
{
	struct watch w = {
		.o = opts,
		.ropts = opts->apply,
		.interval_ms = opts->interval_ms > 0 ? opts->interval_ms : WATCH_DEFAULT_INTERVAL_MS,
		.inotify_fd = -1,
		.last_apply_ms = -1,
	};
	struct signal_state sigs = { .pipe = { -1, -1 } };
	int ret = -1;
	/* Action lines go to the log; bars and per-layer progress do not. */
	w.ropts.dry_run = false;
	w.ropts.quiet = false;
	w.ropts.images.quiet = true;
	w.ropts.lock_timeout_ms = APPLY_LOCK_WAIT_MS;

	if (watch_opts_check(opts, err) < 0)
		goto out;
	if (!opts->git.url && targets_init(&w, err) < 0)
		goto out;
	char bound[80] = "", hook_bound[80] = "";
	if (opts->metrics_addr && watch_metrics_open(opts->metrics_addr, &w.metrics, bound,
						     sizeof(bound), err) < 0)
		goto out;
	if (opts->git.url) {
		_cleanup_free_ char *note = NULL;
		if (watch_git_open(&opts->git, w.ropts.root, &stop_requested, &w.git, &note, err) < 0)
			goto out;
		if (note)
			log_msg(ZL_LOG_WARN, note);
		if (opts->git.webhook && watch_webhook_open(opts->git.webhook, w.git, &w.webhook,
							    hook_bound, sizeof(hook_bound), err) < 0)
			goto out;
	}
	w.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w.inotify_fd < 0) {
		zl_fail_errno(err, "watch: inotify");
		goto out;
	}
	if (targets_arm(&w, err) < 0 || signals_install(&sigs, err) < 0)
		goto out;

	zl_log_set_sink(watch_log_sink);
	struct logline l;
	lbegin(&l, ZL_LOG_INFO, "watching");
	struct zl_buf paths = { 0 };
	for (size_t i = 0; i < opts->path_count; i++)
		zl_buf_printf(&paths, "%s%s", i ? "," : "", opts->paths[i]);
	lstr(&l, "paths", w.git ? NULL : paths.data);
	zl_buf_free(&paths);
	if (w.git) {
		lstr(&l, "git", opts->git.url);
		lstr(&l, "branch", opts->git.branch ? opts->git.branch : "main");
		lstr(&l, "path", opts->git.path);
		lstr(&l, "webhook", w.webhook ? hook_bound : NULL);
	}
	lint(&l, "interval_ms", w.interval_ms);
	lstr(&l, "backend", w.ropts.backend_name);
	lstr(&l, "root", w.ropts.root);
	lstr(&l, "metrics", w.metrics ? bound : NULL);
	lend(&l);

	refresh(&w, "start");
	ret = run_loop(&w, sigs.pipe[0], err);
	if (ret == 0)
		log_msg(ZL_LOG_INFO, "stopped");
out:
	zl_log_set_sink(NULL);
	signals_restore(&sigs);
	if (w.inotify_fd >= 0)
		close(w.inotify_fd);
	watch_metrics_close(w.metrics);
	watch_metrics_close(w.webhook);
	watch_git_close(w.git);
	free(w.git_reported);
	targets_free(&w);
	if (w.have_set)
		spec_set_free(&w.set);
	state_replicas_free(&w.rows);
	free(w.fingerprint);
	free(w.last_report);
	free(w.applied_spec);
	free(w.drift_seen);
	return ret;
}
