/* watch_git.c: the git side of zlapply watch (`--git URL`, docs/gitops.md),
 * between the loop (watch.c) and the clone (git/git.h).
 *
 * Commits, as the watcher sees them:
 *   fetched  the branch's head after a fetch (every interval, on a webhook);
 *   loaded   its specs were written out (gitsrc_checkout) and loaded without
 *            an error: the watcher applies them and it becomes the commit
 *            in force (watch_git_applied records it: meta "git_source",
 *            an event "git" per deployment);
 *   refused  its specs did not load, or --path or a symlink in it is bad:
 *            reported once (watch_git_refused: event "git_refused", the
 *            error gauge), never applied; the commit in force stays.
 * A fetch that fails (unreachable, no such branch, refused credentials)
 * changes nothing but the error gauge and the log. */
#include "watch-internal.h"

#include <errno.h>
#include <string.h>

#include "git/git.h"

#define META_GIT_SOURCE "git_source" /* "git URL@COMMIT" applied last */
#define SECRET_MAX 4096

struct watch_git {
	struct gitsrc_opts o;
	struct gitsrc *src;
	char *secret; /* webhook HMAC key; NULL without --webhook */
	size_t secret_len;
	char applied[41]; /* the commit in force; "" none yet */
	char refused[41]; /* the last commit refused; "" none */
	char *error;      /* the last fetch or commit error; NULL when the last went well */
};

/* The webhook secret: the file's bytes without a trailing newline. */
static int secret_read(struct watch_git *g, const char *path, struct zl_err *err)
{
	char *data = NULL;
	size_t len = 0;
	if (zl_read_file(path, &data, &len, err) < 0)
		return zl_err_prefix(err, "--webhook-secret-file");
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len == 0 || len > SECRET_MAX) {
		free(data);
		return zl_invalid(err, "--webhook-secret-file %s: expected a secret of 1 to %d bytes",
				  path, SECRET_MAX);
	}
	g->secret = data;
	g->secret_len = len;
	return 0;
}

int watch_git_open(const struct watch_git_opts *opts, const char *root,
		   const volatile sig_atomic_t *cancel, struct watch_git **out, char **note,
		   struct zl_err *err)
{
	*out = NULL;
	*note = NULL;
	struct watch_git *g = zl_xcalloc(1, sizeof(*g));
	g->o = (struct gitsrc_opts){
		.url = opts->url, .branch = opts->branch, .path = opts->path,
		.ssh_key_file = opts->ssh_key_file, .token_file = opts->token_file,
		.host_key = opts->host_key, .ca_file = opts->ca_file, .cancel = cancel,
	};
	if (gitsrc_opts_check(&g->o, err) < 0)
		goto fail;
	if (opts->webhook && !opts->webhook_secret_file) {
		zl_invalid(err, "--webhook needs --webhook-secret-file FILE (unsigned requests are refused)");
		goto fail;
	}
	if (!opts->webhook && opts->webhook_secret_file) {
		zl_invalid(err, "--webhook-secret-file goes with --webhook HOST:PORT");
		goto fail;
	}
	if (opts->webhook_secret_file && secret_read(g, opts->webhook_secret_file, err) < 0)
		goto fail;
	if (gitsrc_open(&g->o, root, &g->src, note, err) < 0)
		goto fail;
	*out = g;
	return 0;
fail:
	watch_git_close(g);
	return -1;
}

void watch_git_close(struct watch_git *g)
{
	if (!g)
		return;
	gitsrc_close(g->src);
	if (g->secret)
		explicit_bzero(g->secret, g->secret_len);
	free(g->secret);
	free(g->error);
	free(g);
}

const char *watch_git_url(const struct watch_git *g)
{
	return g->o.url;
}

const char *watch_git_commit(const struct watch_git *g)
{
	return g->applied[0] ? g->applied : NULL;
}

const char *watch_git_error(const struct watch_git *g)
{
	return g->error;
}

static void set_error(struct watch_git *g, const char *msg)
{
	free(g->error);
	g->error = zl_xstrdup(msg);
}

int watch_git_next(struct watch_git *g, bool use_local, char commit[41], char **dir,
		   struct zl_err *err)
{
	*dir = NULL;
	_cleanup_free_ char *note = NULL;
	int fetched = gitsrc_fetch(g->src, commit, &note, err);
	if (note)
		zl_log(ZL_LOG_WARN, "%s", note);
	if (fetched < 0) {
		set_error(g, err->msg);
		/* At start, a remote that cannot be reached leaves the last
		 * commit fetched in force, as it was before the restart. */
		if (!use_local || g->applied[0] || !gitsrc_local_head(g->src, commit))
			return -1;
	} else if (strcmp(commit, g->refused) != 0) {
		free(g->error); /* a refused head stays an error until it moves */
		g->error = NULL;
	}
	if (strcmp(commit, g->applied) == 0 || strcmp(commit, g->refused) == 0)
		return 0;
	if (gitsrc_checkout(g->src, commit, g->applied[0] ? g->applied : NULL, dir, err) < 0) {
		zl_err_prefix(err, "%s", g->o.url);
		return -1;
	}
	return 1;
}

/* Records event kind with msg for each deployment of set (one without a
 * deployment when set is NULL or empty), and meta "git_source" when source. */
static void record(const char *root, const struct spec_set *set, const char *kind,
		   const char *msg, const char *source)
{
	struct state_db *db = NULL;
	struct zl_err err = ZL_ERR_INIT;
	int64_t now = zl_now_ms();
	if (state_open(root, false, &db, &err) < 0)
		goto out;
	if (source && state_meta_put(db, META_GIT_SOURCE, source, &err) < 0)
		goto out;
	size_t n = set && set->count ? set->count : 1;
	for (size_t i = 0; i < n; i++)
		if (state_event_add(db, now, set && set->count ? set->deployments[i].name : NULL, NULL,
				    0, kind, msg, &err) < 0)
			goto out;
out:
	if (err.msg[0])
		zl_log(ZL_LOG_WARN, "watch: record %s: %s", kind, err.msg);
	state_close(db);
}

void watch_git_applied(struct watch_git *g, const char *root, const struct spec_set *set,
		       const char *commit)
{
	if (strcmp(commit, g->applied) == 0)
		return;
	snprintf(g->applied, sizeof(g->applied), "%s", commit);
	g->refused[0] = '\0';
	_cleanup_free_ char *source = zl_xasprintf("git %s@%s", g->o.url, commit);
	_cleanup_free_ char *msg = zl_xasprintf("applied commit %s of %s (branch %s)", commit,
						g->o.url, g->o.branch ? g->o.branch : "main");
	record(root, set, "git", msg, source);
}

void watch_git_refused(struct watch_git *g, const char *root, const struct spec_set *set,
		       const char *commit, const char *why)
{
	snprintf(g->refused, sizeof(g->refused), "%s", commit);
	_cleanup_free_ char *msg = zl_xasprintf("commit %s of %s not applied: %s", commit, g->o.url, why);
	set_error(g, msg);
	record(root, set, "git_refused", msg, NULL);
}

int watch_git_verify(const struct watch_git *g, const void *body, size_t len,
		     const char *github_sig, const char *gitea_sig, struct zl_err *err)
{
	if (!g->secret)
		return zl_invalid(err, "no webhook secret");
	return gitsrc_webhook_verify(g->secret, g->secret_len, body, len, github_sig, gitea_sig, err);
}

char *watch_git_source_recorded(const char *root)
{
	struct state_db *db = NULL;
	struct zl_err err = ZL_ERR_INIT;
	char *value = NULL;
	if (state_open(root, true, &db, &err) < 0)
		return NULL; /* nothing recorded (no database yet) */
	if (state_meta_get(db, META_GIT_SOURCE, &value, &err) < 0)
		zl_log(ZL_LOG_DEBUG, "status: %s", err.msg);
	state_close(db);
	return value;
}
