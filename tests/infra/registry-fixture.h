/* registry-fixture.h: what the image tests (test_registry.c,
 * test_images_cli.c) share: the scripts of tests/infra run from C, test
 * images built once per test program, real registries on 127.0.0.1, the
 * fault proxy, and looking at a state root's content store.
 *
 * Everything is static inline; a test program takes what it uses. Helpers
 * that can fail report on stderr and return -1 (or NULL) so callers decide;
 * the rf_must_* variants fail the calling cmocka test.
 */
#ifndef ZL_TEST_REGISTRY_FIXTURE_H
#define ZL_TEST_REGISTRY_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* snprintf that aborts instead of truncating (paths are built everywhere). */
static inline void rf_fmt(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void rf_fmt(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "rf_fmt: \"%s\" does not fit in %zu bytes\n", fmt, size);
		abort();
	}
}

/* ---- where things are ---- */

static inline const char *rf_source_root(void)
{
	const char *s = getenv("ZLAPPLY_SOURCE_ROOT");
	return s && *s ? s : ZL_TEST_SOURCE_ROOT;
}

/* <source>/tests/infra/NAME into out. */
static inline char *rf_infra(const char *name, char out[PATH_MAX])
{
	rf_fmt(out, PATH_MAX, "%s/tests/infra/%s", rf_source_root(), name);
	return out;
}

static inline int64_t rf_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- running the scripts ---- */

static inline char *rf_vfmt(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	return s;
}

/* Runs a shell command (printf-style); returns its exit status, -1 when it
 * did not exit normally. The command is echoed on stderr when it fails. */
static inline int rf_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int rf_sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = rf_vfmt(fmt, ap);
	va_end(ap);
	fflush(stdout);
	fflush(stderr);
	int st = system(cmd);
	int code = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (code != 0)
		fprintf(stderr, "rf_sh: exit %d: %s\n", code, cmd);
	free(cmd);
	return code;
}

/* Runs a shell command and returns its stdout with trailing whitespace cut
 * (caller frees); NULL when it exits non-zero. */
static inline char *rf_sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *rf_sh_out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = rf_vfmt(fmt, ap);
	va_end(ap);
	fflush(stdout);
	fflush(stderr);
	FILE *p = popen(cmd, "r");
	if (!p) {
		fprintf(stderr, "rf_sh_out: popen %s: %s\n", cmd, strerror(errno));
		free(cmd);
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		memcpy(buf + len, chunk, n);
		len += n;
	}
	int st = pclose(p);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "rf_sh_out: failed (status %d): %s\n", st, cmd);
		free(buf);
		free(cmd);
		return NULL;
	}
	free(cmd);
	if (!buf)
		buf = strdup("");
	else
		buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	return buf;
}

/* ---- files ---- */

static inline char *rf_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	char chunk[8192];
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		memcpy(buf + len, chunk, n);
		len += n;
	}
	fclose(f);
	if (!buf)
		return strdup("");
	buf[len] = '\0';
	return buf;
}

static inline int rf_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	size_t len = strlen(text);
	int ok = fwrite(text, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static inline int rf_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0 && errno != ENOENT)
		fprintf(stderr, "cleanup: remove %s: %s\n", path, strerror(errno));
	return 0;
}

static inline void rf_rm_rf(const char *dir)
{
	if (dir && dir[0])
		nftw(dir, rf_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline bool rf_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Entries of dir (no . and ..); with suffix, only names ending in it. A
 * missing directory has none. */
static inline size_t rf_count_entries(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	size_t n = 0, sl = suffix ? strlen(suffix) : 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		size_t l = strlen(e->d_name);
		if (suffix && (l < sl || strcmp(e->d_name + l - sl, suffix) != 0))
			continue;
		n++;
	}
	closedir(d);
	return n;
}

/* Number of lines of text containing needle. */
static inline size_t rf_count_lines_with(const char *text, const char *needle)
{
	size_t n = 0;
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, l);
		if (strstr(line, needle))
			n++;
		free(line);
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

/* Lines of text containing both a and b. */
static inline size_t rf_count_lines_with2(const char *text, const char *a, const char *b)
{
	size_t n = 0;
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, l);
		if (strstr(line, a) && strstr(line, b))
			n++;
		free(line);
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

/* ---- test images (build-images.sh) ---- */

/* Builds busybox, multi and multiarch under dir (idempotent). */
static inline int rf_build_images(const char *dir)
{
	char script[PATH_MAX];
	return rf_sh("%s %s >&2", rf_infra("build-images.sh", script), dir) == 0 ? 0 : -1;
}

/* dir/NAME.json: {"manifest", "config", "layers", "diff_ids", ...}. */
static inline cJSON *rf_image_info(const char *dir, const char *name)
{
	char path[PATH_MAX];
	rf_fmt(path, sizeof(path), "%s/%s.json", dir, name);
	char *text = rf_read_file(path);
	cJSON *j = text ? cJSON_Parse(text) : NULL;
	free(text);
	if (!j)
		fprintf(stderr, "rf_image_info: cannot read %s\n", path);
	return j;
}

static inline const char *rf_info_str(const cJSON *info, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(info, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* info[key][i] as a string ("" when absent). */
static inline const char *rf_info_at(const cJSON *info, const char *key, int i)
{
	const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(info, key), i);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* ---- registries (registry.sh) ---- */

struct rf_registry {
	char dir[PATH_MAX];
	char ca[PATH_MAX]; /* tls only */
	int port;
};

/* Starts a registry of variant (plain, basic, token, tls) in dir. */
static inline int rf_registry_start(struct rf_registry *r, const char *variant, const char *dir)
{
	char script[PATH_MAX];
	memset(r, 0, sizeof(*r));
	rf_fmt(r->dir, sizeof(r->dir), "%s", dir);
	char *out = rf_sh_out("%s start %s %s", rf_infra("registry.sh", script), variant, dir);
	if (!out)
		return -1;
	char ca[PATH_MAX] = "";
	int n = sscanf(out, "%d %4095s", &r->port, ca);
	free(out);
	if (n < 1 || r->port <= 0)
		return -1;
	rf_fmt(r->ca, sizeof(r->ca), "%s", ca);
	return 0;
}

static inline void rf_registry_stop(struct rf_registry *r)
{
	char script[PATH_MAX];
	if (r->dir[0])
		rf_sh("%s stop %s", rf_infra("registry.sh", script), r->dir);
	r->port = 0;
}

/* Pushes oci:images/NAME:1.0 as repo_tag (e.g. "test/busybox:1.0"), with
 * more skopeo flags (e.g. "--format v2s2": Docker media types) or "". */
static inline int rf_push_flags(const struct rf_registry *r, const char *images, const char *name,
				const char *repo_tag, const char *flags)
{
	char script[PATH_MAX];
	return rf_sh("%s push %s oci:%s/%s:1.0 %s %s", rf_infra("registry.sh", script), r->dir,
		     images, name, repo_tag, flags) == 0
		       ? 0
		       : -1;
}

static inline int rf_push(const struct rf_registry *r, const char *images, const char *name,
			  const char *repo_tag)
{
	return rf_push_flags(r, images, name, repo_tag, "");
}

/* Where the registry keeps a blob's bytes (to tamper with it). */
static inline void rf_registry_blob_path(const struct rf_registry *r, const char *digest,
					 char out[PATH_MAX])
{
	rf_fmt(out, PATH_MAX, "%s/data/docker/registry/v2/blobs/sha256/%.2s/%s/data", r->dir,
		 digest + 7, digest + 7);
}

/* "127.0.0.1:PORT/repo:tag" into out. */
static inline char *rf_ref(char out[256], int port, const char *repo_tag)
{
	rf_fmt(out, 256, "127.0.0.1:%d/%s", port, repo_tag);
	return out;
}

/* ---- the fault proxy (fault-proxy.py) ---- */

struct rf_proxy {
	char dir[PATH_MAX];
	int port;
};

static inline int rf_proxy_start(struct rf_proxy *p, const char *dir, int upstream_port,
				 const char *mode)
{
	char script[PATH_MAX];
	memset(p, 0, sizeof(*p));
	rf_fmt(p->dir, sizeof(p->dir), "%s", dir);
	char *out = rf_sh_out("%s start --upstream 127.0.0.1:%d --dir %s --mode '%s' --lifetime 120",
			      rf_infra("fault-proxy.py", script), upstream_port, dir, mode);
	if (!out)
		return -1;
	p->port = atoi(out);
	free(out);
	return p->port > 0 ? 0 : -1;
}

static inline int rf_proxy_mode(const struct rf_proxy *p, const char *mode)
{
	char script[PATH_MAX];
	return rf_sh("%s mode %s '%s'", rf_infra("fault-proxy.py", script), p->dir, mode) == 0 ? 0 : -1;
}

static inline void rf_proxy_stop(struct rf_proxy *p)
{
	char script[PATH_MAX];
	if (p->dir[0] && p->port)
		rf_sh("%s stop %s", rf_infra("fault-proxy.py", script), p->dir);
	p->port = 0;
}

/* The proxy's request log (caller frees); "" when empty. */
static inline char *rf_proxy_log(const struct rf_proxy *p)
{
	char path[PATH_MAX];
	rf_fmt(path, sizeof(path), "%s/proxy.log", p->dir);
	char *t = rf_read_file(path);
	return t ? t : strdup("");
}

static inline void rf_proxy_log_clear(const struct rf_proxy *p)
{
	char path[PATH_MAX];
	rf_fmt(path, sizeof(path), "%s/proxy.log", p->dir);
	rf_write_file(path, "");
}

/* ---- a state root's content store ---- */

static inline void rf_blob_path(const char *root, const char *digest, char out[PATH_MAX])
{
	rf_fmt(out, PATH_MAX, "%s/blobs/sha256/%s", root, digest + 7);
}

static inline void rf_layer_path(const char *root, const char *diff_id, const char *rel,
				 char out[PATH_MAX])
{
	rf_fmt(out, PATH_MAX, "%s/layers/%s%s%s", root, diff_id + 7, rel ? "/" : "", rel ? rel : "");
}

/* An auth file ({"auths": {host: {auth: base64(user:pass)}}}) at path. */
static inline int rf_write_auth_file(const char *path, const char *host, const char *user_pass)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = (const unsigned char *)user_pass;
	size_t n = strlen(user_pass);
	char b64[512];
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < sizeof(b64); i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		b64[o++] = tbl[v >> 18 & 63];
		b64[o++] = tbl[v >> 12 & 63];
		b64[o++] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
		b64[o++] = i + 2 < n ? tbl[v & 63] : '=';
	}
	b64[o] = '\0';
	char text[1024];
	rf_fmt(text, sizeof(text), "{\"auths\": {\"%s\": {\"auth\": \"%s\"}}}\n", host, b64);
	return rf_write_file(path, text);
}

#endif
