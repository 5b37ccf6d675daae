/* git.c: the clone, the fetch and the specs of one commit (git.h). Every
 * libgit2 call of zlapply is in this file; its errors become zl_err
 * messages that name the URL (never a credential). */
#include "git.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <git2.h>
#include <git2/sys/repository.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#define SPEC_FILE_MAX (16u << 20) /* what the loader reads of one file at most */
#define SYSTEM_CA_DIR "/etc/ssl/certs"

struct gitsrc {
	const struct gitsrc_opts *o;
	const char *branch;
	char *dir;      /* <root>/git/<hash> */
	char *repo_dir; /* dir/repo.git */
	git_repository *repo;
	int cred_tries; /* credential callbacks of the fetch in progress */
	const char *offered; /* the credential offered last ("--git-ssh-key"), for the message */
	char *cb_error; /* why a callback refused (host key), for the message */
};

/* ---- errors ---- */

/* Fills err from libgit2's last error, after what (the context). */
static int git_fail(struct zl_err *err, const char *what)
{
	const git_error *e = git_error_last();
	return zl_err_set(err, ZL_ERR_FAIL, 0, "%s%s%s", what, *what ? ": " : "",
			  e && e->message ? e->message : "unknown libgit2 error");
}

static int git_fail_url(struct zl_err *err, const char *what, const char *url)
{
	_cleanup_free_ char *ctx = zl_xasprintf("%s %s", what, url);
	return git_fail(err, ctx);
}

static int git_fail_commit(struct zl_err *err, const char *commit)
{
	_cleanup_free_ char *ctx = zl_xasprintf("commit %.12s", commit);
	return git_fail(err, ctx);
}

/* ---- options ---- */

static bool path_escapes(const char *path)
{
	if (path[0] == '/')
		return true;
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return true;
		p += len;
		if (*p == '/')
			p++;
	}
	return false;
}

/* "scheme://user:secret@host/...": a credential on the command line. */
static bool url_has_password(const char *url)
{
	const char *auth = strstr(url, "://");
	if (!auth)
		return false;
	auth += 3;
	size_t len = strcspn(auth, "/");
	const char *at = memchr(auth, '@', len);
	return at && memchr(auth, ':', (size_t)(at - auth));
}

static int file_readable(const char *flag, const char *path, struct zl_err *err)
{
	if (path && access(path, R_OK) < 0)
		return zl_err_set(err, ZL_ERR_INPUT, errno, "%s %s", flag, path);
	return 0;
}

int gitsrc_opts_check(const struct gitsrc_opts *o, struct zl_err *err)
{
	if (!o->url || !*o->url)
		return zl_invalid(err, "--git: expected a repository URL");
	if (url_has_password(o->url))
		return zl_invalid(err, "--git: the URL carries a password or token, which would show in "
				  "ps and the logs; put it in a file for --git-token-file");
	const char *branch = o->branch ? o->branch : "main";
	_cleanup_free_ char *ref = zl_xasprintf("refs/heads/%s", branch);
	int valid = 0;
	if (git_libgit2_init() < 0)
		return git_fail(err, "libgit2");
	int r = git_reference_name_is_valid(&valid, ref);
	git_libgit2_shutdown();
	if (r < 0 || !valid)
		return zl_invalid(err, "--branch: \"%s\" is not a valid branch name", branch);
	if (o->path && path_escapes(o->path))
		return zl_invalid(err, "--path: \"%s\" leads out of the repository (absolute or with \"..\")",
				  o->path);
	if (o->host_key && strncmp(o->host_key, "SHA256:", 7) != 0)
		return zl_invalid(err, "--git-host-key: expected SHA256:<base64> as ssh-keygen -lf prints it, "
				  "got \"%s\"", o->host_key);
	if (file_readable("--git-ssh-key", o->ssh_key_file, err) < 0 ||
	    file_readable("--git-token-file", o->token_file, err) < 0 ||
	    file_readable("--git-ca-file", o->ca_file, err) < 0)
		return -1;
	return 0;
}

/* ---- the clone ---- */

static int repo_init(struct gitsrc *g, struct zl_err *err)
{
	if (git_repository_init(&g->repo, g->repo_dir, 1) < 0) {
		_cleanup_free_ char *what = zl_xasprintf("git init %s", g->repo_dir);
		return git_fail(err, what);
	}
	return 0;
}

/* The clone reads no git configuration at all (its own, ~/.gitconfig,
 * /etc/gitconfig): what it does is what the flags say, and no user setting
 * (url.*.insteadOf, a proxy) changes where or how it fetches. */
static int repo_isolate(struct gitsrc *g, struct zl_err *err)
{
	git_config *cfg = NULL;
	if (git_config_new(&cfg) < 0 || git_repository_set_config(g->repo, cfg) < 0) {
		git_config_free(cfg);
		return git_fail(err, "git config");
	}
	git_config_free(cfg);
	return 0;
}

/* The clone is broken (why, and libgit2's last error): moved aside to
 * repo.git.broken-<ms> and made anew, empty; *note says so (caller frees). */
static int repo_renew(struct gitsrc *g, const char *why, char **note, struct zl_err *err)
{
	const git_error *e = git_error_last();
	_cleanup_free_ char *aside = zl_xasprintf("%s.broken-%lld", g->repo_dir, (long long)zl_now_ms());
	free(*note);
	*note = zl_xasprintf("the clone %s %s (%s); moved to %s, cloning anew", g->repo_dir, why,
			     e && e->message ? e->message : "?", aside);
	git_repository_free(g->repo);
	g->repo = NULL;
	if (rename(g->repo_dir, aside) < 0)
		return zl_fail_errno(err, "rename %s", g->repo_dir);
	return repo_init(g, err) < 0 ? -1 : repo_isolate(g, err);
}

/* --git-ca-file: libgit2 (mbedTLS in Debian) takes one file and one
 * directory of CA certificates, and they replace its default (the system
 * bundle); the system's directory keeps those trusted too. The setting is
 * libgit2's, for the whole process: one watcher has one repository. */
static int trust_ca_file(const char *ca_file, struct zl_err *err)
{
	struct stat st;
	const char *system_dir = stat(SYSTEM_CA_DIR, &st) == 0 && S_ISDIR(st.st_mode) ? SYSTEM_CA_DIR
										     : NULL;
	if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, ca_file, system_dir) < 0) {
		_cleanup_free_ char *what = zl_xasprintf("--git-ca-file %s", ca_file);
		return git_fail(err, what);
	}
	return 0;
}

int gitsrc_open(const struct gitsrc_opts *o, const char *root, struct gitsrc **out, char **note,
		struct zl_err *err)
{
	*out = NULL;
	*note = NULL;
	if (git_libgit2_init() < 0)
		return git_fail(err, "libgit2");
	if (o->ca_file && trust_ca_file(o->ca_file, err) < 0) {
		git_libgit2_shutdown();
		return -1;
	}
	struct gitsrc *g = zl_xcalloc(1, sizeof(*g));
	g->o = o;
	g->branch = o->branch ? o->branch : "main";
	char hash[65];
	zl_sha256_hex(o->url, strlen(o->url), hash);
	hash[16] = '\0';
	g->dir = zl_xasprintf("%s/git/%s", root, hash);
	g->repo_dir = zl_xasprintf("%s/repo.git", g->dir);
	if (zl_mkdir_p(g->dir, 0700, err) < 0)
		goto fail;
	struct stat st;
	if (stat(g->repo_dir, &st) < 0) {
		if (repo_init(g, err) < 0)
			goto fail;
	} else if (git_repository_open_bare(&g->repo, g->repo_dir) < 0 &&
		   repo_renew(g, "cannot be opened", note, err) < 0) {
		goto fail;
	}
	if (repo_isolate(g, err) < 0)
		goto fail;
	/* What an earlier run wrote out may be for another --path: this run
	 * writes its commits anew. */
	char *specs = zl_xasprintf("%s/specs", g->dir);
	int r = zl_rm_rf(specs, err);
	free(specs);
	if (r < 0)
		goto fail;
	*out = g;
	return 0;
fail:
	free(*note);
	*note = NULL;
	gitsrc_close(g);
	return -1;
}

void gitsrc_close(struct gitsrc *g)
{
	if (!g)
		return;
	git_repository_free(g->repo);
	free(g->dir);
	free(g->repo_dir);
	free(g->cb_error);
	free(g);
	git_libgit2_shutdown();
}

/* ---- fetching ---- */

/* The token file's first line: "TOKEN" or "USER:TOKEN". */
static int token_credential(git_credential **out, struct gitsrc *g, const char *url_user)
{
	char *data = NULL;
	size_t len = 0;
	struct zl_err err = ZL_ERR_INIT;
	if (zl_read_file(g->o->token_file, &data, &len, &err) < 0) {
		free(g->cb_error);
		g->cb_error = zl_xasprintf("--git-token-file: %s", err.msg);
		return GIT_EUSER;
	}
	data[strcspn(data, "\r\n")] = '\0';
	char *colon = strchr(data, ':');
	const char *user = url_user ? url_user : "git", *token = data;
	if (colon) {
		*colon = '\0';
		user = data;
		token = colon + 1;
	}
	int r = git_credential_userpass_plaintext_new(out, user, token);
	explicit_bzero(data, len);
	free(data);
	return r;
}

static int on_credentials(git_credential **out, const char *url, const char *url_user,
			  unsigned int allowed, void *payload)
{
	struct gitsrc *g = payload;
	(void)url;
	if (g->cred_tries++ > 0) {
		/* libgit2 asks again after a refusal: the same answer would loop. */
		free(g->cb_error);
		g->cb_error = zl_xasprintf("the server refused the credentials (%s)", g->offered);
		return GIT_EUSER;
	}
	if (allowed & GIT_CREDENTIAL_SSH_KEY) {
		const char *user = url_user ? url_user : "git";
		g->offered = g->o->ssh_key_file ? "the key of --git-ssh-key" : "the keys of ssh-agent";
		if (g->o->ssh_key_file)
			return git_credential_ssh_key_new(out, user, NULL, g->o->ssh_key_file, NULL);
		return git_credential_ssh_key_from_agent(out, user);
	}
	if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && g->o->token_file) {
		g->offered = "the token of --git-token-file";
		return token_credential(out, g, url_user);
	}
	free(g->cb_error);
	g->cb_error = zl_xstrdup("the server asks for credentials; give --git-ssh-key or --git-token-file");
	return GIT_EUSER;
}

/* A pinned SSH host key: compared with the SHA256 fingerprint the server
 * shows. Anything else is left to libgit2 (known_hosts, the CA store). */
static int on_certificate(git_cert *cert, int valid, const char *host, void *payload)
{
	struct gitsrc *g = payload;
	(void)valid;
	if (!g->o->host_key || cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
		return GIT_PASSTHROUGH;
	const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;
	free(g->cb_error);
	g->cb_error = NULL;
	if (!(hk->type & GIT_CERT_SSH_SHA256)) {
		g->cb_error = zl_xasprintf("%s: the server's SHA256 host key fingerprint is not available",
					   host);
		return GIT_ECERTIFICATE;
	}
	unsigned char b64[64];
	int n = EVP_EncodeBlock(b64, hk->hash_sha256, 32);
	while (n > 0 && b64[n - 1] == '=')
		n--; /* ssh-keygen prints it unpadded */
	const char *want = g->o->host_key + 7;
	size_t want_len = strcspn(want, "=");
	if ((size_t)n == want_len && memcmp(b64, want, want_len) == 0)
		return 0;
	g->cb_error = zl_xasprintf("%s: host key SHA256:%.*s is not the pinned %s", host, n,
				   (const char *)b64, g->o->host_key);
	return GIT_ECERTIFICATE;
}

static int on_progress(const git_indexer_progress *stats, void *payload)
{
	struct gitsrc *g = payload;
	(void)stats;
	return g->o->cancel && *g->o->cancel ? GIT_EUSER : 0;
}

static void oid_hex(const git_oid *oid, char out[41])
{
	git_oid_tostr(out, 41, oid);
}

/* One fetch; *own (on failure) tells whether the clone itself failed
 * (unreadable objects, refs or config) rather than the remote. */
static int fetch_once(struct gitsrc *g, char commit[41], bool *own, struct zl_err *err)
{
	git_remote *remote = NULL;
	_cleanup_free_ char *src = zl_xasprintf("refs/heads/%s", g->branch);
	_cleanup_free_ char *spec = zl_xasprintf("+%s:refs/remotes/origin/%s", src, g->branch);
	char *specs[] = { spec };
	git_strarray refspecs = { specs, 1 };
	git_fetch_options fo;
	(void)git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION); /* fails only on a bad version */
	fo.callbacks.credentials = on_credentials;
	fo.callbacks.certificate_check = on_certificate;
	fo.callbacks.transfer_progress = on_progress;
	fo.callbacks.payload = g;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	fo.update_fetchhead = 0;
	g->cred_tries = 0;
	free(g->cb_error);
	g->cb_error = NULL;
	int ret = -1;

	/* No url.*.insteadOf: the URL given is the one fetched. Its lookup in
	 * libgit2 1.5 also leaks the match data of every regex that does not
	 * match (about 20 KB a fetch; libgit2 pull request 6382, fixed after
	 * Debian 12's version). */
	git_remote_create_options ro;
	(void)git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	ro.repository = g->repo;
	ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	if (git_remote_create_with_opts(&remote, g->o->url, &ro) < 0) {
		git_fail_url(err, "--git", g->o->url);
		goto out;
	}
	int r = git_remote_fetch(remote, &refspecs, &fo, "zlapply watch: fetch");
	if (r < 0) {
		/* A certificate libgit2 refused (nothing pinned, or https://):
		 * say what would make it trusted. */
		const git_error *e = git_error_last();
		const char *hint = "";
		if (e && e->klass == GIT_ERROR_SSL && strncmp(g->o->url, "https://", 8) == 0)
			hint = " (a private server? trust its CA with --git-ca-file)";
		else if (e && e->klass == GIT_ERROR_SSH && r == GIT_ECERTIFICATE)
			hint = " (not in ~/.ssh/known_hosts, or another key there: add it, or pin it with "
			       "--git-host-key)";
		if (g->cb_error)
			zl_err_set(err, ZL_ERR_FAIL, 0, "fetch %s: %s", g->o->url, g->cb_error);
		else
			zl_err_set(err, ZL_ERR_FAIL, 0, "fetch %s: %s%s", g->o->url,
				   e && e->message ? e->message : "unknown libgit2 error", hint);
		goto out;
	}
	/* What the remote advertised is the truth: a branch deleted there is
	 * gone, whatever the clone's own ref says. */
	const git_remote_head **heads = NULL;
	size_t n = 0;
	if (git_remote_ls(&heads, &n, remote) < 0) {
		git_fail_url(err, "fetch", g->o->url);
		goto out;
	}
	const git_remote_head *head = NULL;
	for (size_t i = 0; i < n && !head; i++)
		if (strcmp(heads[i]->name, src) == 0)
			head = heads[i];
	if (!head) {
		zl_err_set(err, ZL_ERR_FAIL, 0, "branch %s not found in %s", g->branch, g->o->url);
		goto out;
	}
	git_commit *c = NULL;
	git_tree *tree = NULL;
	if (git_commit_lookup(&c, g->repo, &head->oid) < 0 || git_commit_tree(&tree, c) < 0) {
		git_fail_url(err, "fetch (the branch's head)", g->o->url);
		goto out;
	}
	git_tree_free(tree);
	git_commit_free(c);
	oid_hex(&head->oid, commit);
	ret = 0;
out:
	if (ret < 0) {
		const git_error *e = git_error_last();
		int k = e ? e->klass : GIT_ERROR_NONE;
		*own = !g->cb_error && (k == GIT_ERROR_ODB || k == GIT_ERROR_ZLIB || k == GIT_ERROR_OBJECT ||
					k == GIT_ERROR_REPOSITORY || k == GIT_ERROR_CONFIG ||
					k == GIT_ERROR_REFERENCE || k == GIT_ERROR_INDEXER);
	}
	git_remote_free(remote);
	return ret;
}

int gitsrc_fetch(struct gitsrc *g, char commit[41], char **note, struct zl_err *err)
{
	bool own = false;
	*note = NULL;
	if (fetch_once(g, commit, &own, err) == 0)
		return 0;
	if (!own)
		return -1;
	/* The clone is broken, not the remote: a new one, fetched once. */
	zl_err_clear(err);
	if (repo_renew(g, "cannot be read", note, err) < 0)
		return -1;
	return fetch_once(g, commit, &own, err);
}

bool gitsrc_local_head(struct gitsrc *g, char commit[41])
{
	_cleanup_free_ char *ref = zl_xasprintf("refs/remotes/origin/%s", g->branch);
	git_oid oid;
	if (git_reference_name_to_id(&oid, g->repo, ref) < 0)
		return false;
	oid_hex(&oid, commit);
	return true;
}

/* ---- the specs of one commit ---- */

static bool spec_file_name(const char *name)
{
	/* What spec_load_paths() reads from a directory. */
	return name[0] != '.' &&
	       (zl_str_has_suffix(name, ".yaml") || zl_str_has_suffix(name, ".yml"));
}

/* dir + "/" + target, with "." and ".." resolved; NULL when it leaves the
 * tree (absolute, or ".." above the top). Caller frees. */
static char *link_resolve(const char *dir, const char *target)
{
	if (target[0] == '/')
		return NULL;
	_cleanup_free_ char *joined = dir && *dir ? zl_xasprintf("%s/%s", dir, target)
						  : zl_xstrdup(target);
	struct zl_buf out = { 0 };
	for (char *save = NULL, *part = strtok_r(joined, "/", &save); part;
	     part = strtok_r(NULL, "/", &save)) {
		if (strcmp(part, ".") == 0)
			continue;
		if (strcmp(part, "..") == 0) {
			char *slash = out.data ? strrchr(out.data, '/') : NULL;
			if (!out.len) {
				zl_buf_free(&out);
				return NULL;
			}
			out.len = slash ? (size_t)(slash - out.data) : 0;
			out.data[out.len] = '\0';
			continue;
		}
		zl_buf_printf(&out, "%s%s", out.len ? "/" : "", part);
	}
	return zl_buf_steal(&out);
}

/* The content of the blob entry names in dir (a path in tree; "" top),
 * following a symlink once if it stays inside the tree. */
static int entry_blob(struct gitsrc *g, git_tree *tree, const char *dir, const git_tree_entry *e,
		      const char *commit, git_blob **out, struct zl_err *err)
{
	const char *name = git_tree_entry_name(e);
	git_filemode_t mode = git_tree_entry_filemode(e);
	if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE) {
		if (git_blob_lookup(out, g->repo, git_tree_entry_id(e)) < 0)
			return git_fail_commit(err, commit);
		return 0;
	}
	if (mode != GIT_FILEMODE_LINK)
		return 1; /* a directory or submodule named *.yaml: not a spec */
	git_blob *link = NULL;
	if (git_blob_lookup(&link, g->repo, git_tree_entry_id(e)) < 0)
		return git_fail_commit(err, commit);
	_cleanup_free_ char *target = zl_xstrndup(git_blob_rawcontent(link),
						   (size_t)git_blob_rawsize(link));
	git_blob_free(link);
	_cleanup_free_ char *resolved = link_resolve(dir, target);
	git_tree_entry *to = NULL;
	int r = 0;
	if (!resolved)
		r = zl_invalid(err, "commit %.12s: %s%s%s is a symlink to \"%s\", out of the repository",
			       commit, dir, *dir ? "/" : "", name, target);
	else if (git_tree_entry_bypath(&to, tree, resolved) < 0)
		r = zl_invalid(err, "commit %.12s: %s%s%s is a symlink to \"%s\", which is not in the commit",
			       commit, dir, *dir ? "/" : "", name, target);
	else if (git_tree_entry_filemode(to) != GIT_FILEMODE_BLOB &&
		 git_tree_entry_filemode(to) != GIT_FILEMODE_BLOB_EXECUTABLE)
		r = zl_invalid(err, "commit %.12s: %s%s%s is a symlink to \"%s\", which is no regular file",
			       commit, dir, *dir ? "/" : "", name, target);
	else if (git_blob_lookup(out, g->repo, git_tree_entry_id(to)) < 0)
		r = git_fail_commit(err, commit);
	git_tree_entry_free(to);
	return r;
}

/* Writes the spec files of tree (the --path directory) into tmp. */
static int write_specs(struct gitsrc *g, git_tree *top, git_tree *tree, const char *commit,
		       const char *tmp, struct zl_err *err)
{
	const char *dir = g->o->path ? g->o->path : "";
	size_t n = git_tree_entrycount(tree);
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		if (!spec_file_name(name))
			continue;
		git_blob *blob = NULL;
		int r = entry_blob(g, top, dir, e, commit, &blob, err);
		if (r < 0)
			return -1;
		if (r > 0)
			continue;
		git_object_size_t size = git_blob_rawsize(blob);
		if (size > SPEC_FILE_MAX) {
			git_blob_free(blob);
			return zl_invalid(err, "commit %.12s: %s%s%s: %llu bytes, more than a spec may have (%u)",
					  commit, dir, *dir ? "/" : "", name, (unsigned long long)size,
					  SPEC_FILE_MAX);
		}
		_cleanup_free_ char *path = zl_xasprintf("%s/%s", tmp, name);
		r = zl_write_file_atomic(path, git_blob_rawcontent(blob), (size_t)size, 0600, err);
		git_blob_free(blob);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* Removes every commit's directory under specs but keep_a's and keep_b's. */
static void specs_prune(const char *specs, const char *keep_a, const char *keep_b)
{
	DIR *d = opendir(specs);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    (keep_a && strcmp(de->d_name, keep_a) == 0) ||
		    (keep_b && strcmp(de->d_name, keep_b) == 0))
			continue;
		_cleanup_free_ char *path = zl_xasprintf("%s/%s", specs, de->d_name);
		struct zl_err err = ZL_ERR_INIT;
		if (zl_rm_rf(path, &err) < 0)
			zl_log(ZL_LOG_DEBUG, "git: %s", err.msg); /* tried again next time */
	}
	closedir(d);
}

int gitsrc_checkout(struct gitsrc *g, const char *commit, const char *keep, char **dir,
		    struct zl_err *err)
{
	*dir = NULL;
	_cleanup_free_ char *specs = zl_xasprintf("%s/specs", g->dir);
	_cleanup_free_ char *final = zl_xasprintf("%s/%s", specs, commit);
	_cleanup_free_ char *tmp = zl_xasprintf("%s/.tmp-%s", specs, commit);
	git_oid oid;
	git_commit *c = NULL;
	git_tree *top = NULL, *tree = NULL;
	git_tree_entry *sub = NULL;
	int ret = -1;
	struct stat st;

	if (stat(final, &st) == 0)
		goto done;
	if (git_oid_fromstr(&oid, commit) < 0 || git_commit_lookup(&c, g->repo, &oid) < 0 ||
	    git_commit_tree(&top, c) < 0) {
		git_fail_commit(err, commit);
		goto out;
	}
	if (g->o->path && *g->o->path && strcmp(g->o->path, ".") != 0) {
		if (git_tree_entry_bypath(&sub, top, g->o->path) < 0) {
			zl_invalid(err, "commit %.12s has no directory %s (--path)", commit, g->o->path);
			goto out;
		}
		if (git_tree_entry_filemode(sub) != GIT_FILEMODE_TREE) {
			zl_invalid(err, "commit %.12s: %s (--path) is not a directory%s", commit, g->o->path,
				   git_tree_entry_filemode(sub) == GIT_FILEMODE_LINK ? " but a symlink" : "");
			goto out;
		}
		if (git_tree_lookup(&tree, g->repo, git_tree_entry_id(sub)) < 0) {
			git_fail_commit(err, commit);
			goto out;
		}
	}
	if (zl_rm_rf(tmp, err) < 0 || zl_mkdir_p(tmp, 0700, err) < 0)
		goto out;
	if (write_specs(g, top, tree ? tree : top, commit, tmp, err) < 0)
		goto out;
	if (rename(tmp, final) < 0) {
		zl_fail_errno(err, "rename %s", tmp);
		goto out;
	}
done:
	specs_prune(specs, commit, keep);
	*dir = zl_xstrdup(final);
	ret = 0;
out:
	if (ret < 0) {
		struct zl_err ignored = ZL_ERR_INIT;
		(void)zl_rm_rf(tmp, &ignored); /* a half-written directory is never read */
	}
	git_tree_entry_free(sub);
	git_tree_free(tree);
	git_tree_free(top);
	git_commit_free(c);
	return ret;
}

/* ---- webhooks ---- */

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int gitsrc_webhook_verify(const void *secret, size_t secret_len, const void *body, size_t len,
			  const char *github_sig, const char *gitea_sig, struct zl_err *err)
{
	const char *hex = NULL;
	if (github_sig) {
		if (strncmp(github_sig, "sha256=", 7) != 0)
			return zl_invalid(err, "X-Hub-Signature-256: expected sha256=<hex>");
		hex = github_sig + 7;
	} else if (gitea_sig) {
		hex = gitea_sig;
	} else {
		return zl_invalid(err, "no signature header (X-Hub-Signature-256 or X-Gitea-Signature)");
	}
	unsigned char want[32], got[EVP_MAX_MD_SIZE];
	unsigned int got_len = 0;
	if (strlen(hex) != 64)
		return zl_invalid(err, "signature: expected 64 hex digits");
	for (size_t i = 0; i < 32; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return zl_invalid(err, "signature: expected 64 hex digits");
		want[i] = (unsigned char)(hi << 4 | lo);
	}
	if (!HMAC(zl_sha256_evp(), secret, (int)secret_len, body, len, got, &got_len) || got_len != 32)
		return zl_fail(err, "HMAC-SHA256 failed");
	if (CRYPTO_memcmp(want, got, 32) != 0)
		return zl_invalid(err, "signature does not match");
	return 0;
}
