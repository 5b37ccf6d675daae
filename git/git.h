/* git.h: the git side of `zlapply watch --git` (docs/gitops.md). The only
 * folder that knows libgit2.
 *
 *   - a bare clone of one repository under <root>/git/<first 16 hex of the
 *     sha256 of its URL>/repo.git, fetching one branch (force-pushes
 *     included: the branch's head is the desired state, older or not);
 *   - the specs of one commit (the *.yaml and *.yml files directly under
 *     --path in that commit's tree) written out to
 *     <root>/git/<hash>/specs/<commit>/ for the spec loader: written under a
 *     temporary name and renamed, so the loader never sees half a commit;
 *     symlinks are followed only inside the tree, never out of it;
 *   - the webhook signatures GitHub and Gitea send (HMAC-SHA256 of the raw
 *     body with a shared secret).
 * Credentials (an SSH key, an HTTPS token) are read from files given by
 * path; none is ever put into a message. A refused credential ends the
 * fetch ("the server refused the credentials (the key of --git-ssh-key)"). */
#ifndef ZL_GIT_H
#define ZL_GIT_H

#include <signal.h>

#include "common/common.h"

struct gitsrc_opts {
	const char *url;          /* file://, git://, ssh://, https:// or a local path */
	const char *branch;       /* NULL = "main" */
	const char *path;         /* directory of the specs in the repository; NULL = top */
	const char *ssh_key_file; /* private key without passphrase; NULL = ssh-agent */
	const char *token_file;   /* "TOKEN" or "USER:TOKEN" on its first line */
	const char *host_key;     /* "SHA256:<base64>" the SSH server must show; NULL =
				   * ~/.ssh/known_hosts (libgit2's check) */
	const char *ca_file;      /* https://: PEM CA certificates trusted besides the
				   * system's (/etc/ssl/certs); NULL = the system's only */
	/* Raised (by a signal handler) to abandon a fetch in progress. */
	const volatile sig_atomic_t *cancel;
};

/* Checks o before anything is touched: a URL, a valid branch name, a path
 * that stays inside the repository (no "..", not absolute), credential
 * files that can be read, a host key of the form SHA256:... Kind INPUT,
 * naming the flag. */
int gitsrc_opts_check(const struct gitsrc_opts *o, struct zl_err *err);

struct gitsrc; /* an open clone */

/* Opens (or creates) the clone of o->url under root. A clone git cannot
 * open (corrupt) is moved aside to repo.git.broken-<ms> and made anew;
 * *note (caller frees; NULL when nothing to say) says so. o is borrowed
 * for the life of *out. Caller frees with gitsrc_close(). */
int gitsrc_open(const struct gitsrc_opts *o, const char *root, struct gitsrc **out, char **note,
		struct zl_err *err);
void gitsrc_close(struct gitsrc *g);

/* Fetches the branch from the remote; commit gets the 40-hex id of its
 * head. A clone whose objects or refs cannot be read is set aside and made
 * anew as gitsrc_open() does, and *note (caller frees; NULL when nothing to
 * say) says so. Fails (FAIL) when the remote cannot be reached or read, or
 * the branch does not exist there ("branch B not found in URL"). */
int gitsrc_fetch(struct gitsrc *g, char commit[41], char **note, struct zl_err *err);

/* The commit recorded as the local branch's head by an earlier fetch, if
 * the clone has one (for a start while the remote is unreachable); false
 * when none. */
bool gitsrc_local_head(struct gitsrc *g, char commit[41]);

/* Writes the specs of commit (see above) to <clone>/specs/<commit> unless
 * there already; *dir gets that path (caller frees). Directories of other
 * commits are removed, except keep's (the commit in force; may be NULL).
 * INPUT when --path is missing from the commit, is not a directory, or a
 * spec file is a symlink leading out of the tree. */
int gitsrc_checkout(struct gitsrc *g, const char *commit, const char *keep, char **dir,
		    struct zl_err *err);

/* ---- webhooks ---- */
/* Verifies a webhook request: the header X-Hub-Signature-256 (GitHub,
 * "sha256=<hex>") or X-Gitea-Signature (Gitea, "<hex>"), whichever is
 * given (github_sig, gitea_sig; NULL when absent), against HMAC-SHA256 of
 * body with secret, compared in constant time. 0 when one matches; -1 with
 * err (kind INPUT) saying why not ("no signature header", "signature does
 * not match"). */
int gitsrc_webhook_verify(const void *secret, size_t secret_len, const void *body, size_t len,
			  const char *github_sig, const char *gitea_sig, struct zl_err *err);

#endif
