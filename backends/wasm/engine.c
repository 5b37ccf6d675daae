/* engine.c: the WASI engine modules run with, chosen once per state root
 * and remembered, like the OCI runtime (oci/runtime.c).
 *
 * The engine is Node.js: Debian ships it (`nodejs`) and its node:wasi runs
 * WASI preview-1 modules. It needs a launcher (zlwasi.mjs, part of this
 * backend) to read the replica's configuration, enforce what node:wasi
 * does not (read-only preopens, the memory cap) and name traps. A
 * requested engine (--wasm-engine) must be a Node.js too; no other engine
 * is supported yet, so none is guessed. */
#include "wasm-internal.h"

#include <string.h>
#include <unistd.h>

#include "backends/supervise.h"

#define MEMO_FILE "wasm-engine"
#define OLD_NODE_FLAG "--experimental-wasi-unstable-preview1"

void wasm_engine_clear(struct wasm_engine *e)
{
	free(e->path);
	free(e->flag);
	free(e->launcher);
	*e = (struct wasm_engine){ 0 };
}

/* The launcher: beside the running binary (installed: libexec), or in the
 * build tree. */
static char *find_launcher(void)
{
	return supervise_find_beside("zlwasi.mjs", "wasm", R_OK);
}

/* Does `ENGINE [FLAG] -e "require('node:wasi')"` work? */
static bool has_wasi(const char *engine, const char *flag)
{
	const char *argv[5];
	size_t n = 0;
	argv[n++] = engine;
	if (flag)
		argv[n++] = flag;
	argv[n++] = "-e";
	argv[n++] = "require('node:wasi')";
	argv[n] = NULL;
	struct zl_buf out = { 0 };
	int status = -1;
	struct zl_err ignored = ZL_ERR_INIT;
	bool ok = zl_run(argv, -1, &out, &status, &ignored) == 0 && status == 0;
	zl_buf_free(&out);
	return ok;
}

/* Checks engine for node:wasi (plain, then with the flag older Node.js
 * versions wanted); sets e. */
static int check_engine(const char *engine, struct wasm_engine *e, struct zl_err *err)
{
	if (has_wasi(engine, NULL)) {
		e->path = zl_xstrdup(engine);
		return 0;
	}
	if (has_wasi(engine, OLD_NODE_FLAG)) {
		e->path = zl_xstrdup(engine);
		e->flag = zl_xstrdup(OLD_NODE_FLAG);
		return 0;
	}
	return zl_fail(err, "%s has no node:wasi (is it Node.js 12 or later?): WASM replicas need a Node.js with WASI; install Debian's nodejs, or name one with --wasm-engine PATH",
		       engine);
}

int wasm_engine_choose(const char *root, const char *requested, struct wasm_engine *e,
		       struct zl_err *err)
{
	*e = (struct wasm_engine){ 0 };
	e->launcher = find_launcher();
	if (!e->launcher)
		return zl_fail(err, "the WASI launcher zlwasi.mjs is not installed beside zlapply (libexec/zlapply)");
	if (requested && *requested) {
		_cleanup_free_ char *path = supervise_which(requested);
		if (!path) {
			wasm_engine_clear(e);
			return zl_invalid(err, "--wasm-engine %s: not found or not executable", requested);
		}
		if (check_engine(path, e, err) < 0) {
			wasm_engine_clear(e);
			return -1;
		}
		return 0;
	}
	_cleanup_free_ char *memo = zl_xasprintf("%s/" MEMO_FILE, root);
	char *text = NULL;
	size_t len = 0;
	struct zl_err ignored = ZL_ERR_INIT;
	if (zl_read_file(memo, &text, &len, &ignored) == 0) {
		/* "PATH\n" or "PATH\tFLAG\n" */
		text[strcspn(text, "\n")] = '\0';
		char *tab = strchr(text, '\t');
		if (tab)
			*tab++ = '\0';
		if (text[0] == '/' && access(text, X_OK) == 0) {
			e->path = zl_xstrdup(text);
			e->flag = tab && *tab ? zl_xstrdup(tab) : NULL;
			free(text);
			return 0;
		}
		free(text); /* the remembered engine went away: look again */
	}
	_cleanup_free_ char *node = supervise_which("node");
	if (!node)
		node = supervise_which("nodejs");
	if (!node) {
		wasm_engine_clear(e);
		return zl_fail(err, "no WASI engine found: WASM replicas run with Node.js's node:wasi; install Debian's nodejs (scripts/setup does), or name one with --wasm-engine PATH");
	}
	if (check_engine(node, e, err) < 0) {
		wasm_engine_clear(e);
		return -1;
	}
	/* Remembering is an optimisation; a failure to write it is harmless. */
	_cleanup_free_ char *line = zl_xasprintf("%s%s%s\n", e->path, e->flag ? "\t" : "",
						 e->flag ? e->flag : "");
	if (zl_mkdir_p(root, 0700, &ignored) == 0)
		zl_write_file_atomic(memo, line, strlen(line), 0600, &ignored);
	return 0;
}
