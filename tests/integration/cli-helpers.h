/* cli-helpers.h: what the end-to-end CLI tests (test_cli.c, test_cli_crash.c)
 * share: a scratch directory per test, running the real zlapply binary with
 * its stdout, stderr and exit code captured, and looking at what a run left
 * behind (the SQLite state read directly, the mock backend's files, the
 * `status -o json` document).
 *
 * Everything is static inline so each test program takes what it uses.
 * Failures inside a helper fail the calling test (cmocka's fail_msg).
 */
#ifndef ZL_TEST_CLI_HELPERS_H
#define ZL_TEST_CLI_HELPERS_H

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
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- where things are ---- */

static inline const char *cli_bin(void)
{
	const char *b = getenv("ZLAPPLY_BIN");
	return b && *b ? b : ZL_TEST_BUILD_ROOT "/cli/zlapply";
}

/* ZLayer's examples (valid/ and invalid/), an optional extra outside the
 * repository: NULL when ZLAPPLY_EXAMPLES is unset or names no directory
 * (set it to run them: ZLAPPLY_EXAMPLES=DIR meson test zlayer_examples).
 * test_zlayer_examples exits 77 (meson: SKIP) without them. */
static inline const char *cli_examples_dir(void)
{
	const char *e = getenv("ZLAPPLY_EXAMPLES");
	struct stat st;
	if (!e || !*e || stat(e, &st) < 0 || !S_ISDIR(st.st_mode))
		return NULL;
	return e;
}

/* A name a spec directory is read for: *.yaml, *.yml. */
static inline bool cli_has_yaml_suffix(const char *name)
{
	size_t l = strlen(name);
	return (l > 5 && strcmp(name + l - 5, ".yaml") == 0) ||
	       (l > 4 && strcmp(name + l - 4, ".yml") == 0);
}

/* snprintf into a PATH_MAX buffer; a path that does not fit fails the test. */
static inline char *cli_pathf(char out[PATH_MAX], const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline char *cli_pathf(char out[PATH_MAX], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= PATH_MAX)
		fail_msg("path too long: %s", out);
	return out;
}

/* The source tree: $ZLAPPLY_SOURCE_ROOT (meson test sets it), else where
 * the test was built from. */
static inline const char *cli_source_root(void)
{
	const char *src = getenv("ZLAPPLY_SOURCE_ROOT");
	return src && *src ? src : ZL_TEST_SOURCE_ROOT;
}

/* tests/fixtures/cli/NAME into out. */
static inline void cli_fixture(char out[PATH_MAX], const char *name)
{
	cli_pathf(out, "%s/tests/fixtures/cli/%s", cli_source_root(), name);
}

static inline int64_t cli_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void cli_sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- a scratch directory per test ---- */

struct cli_tmp {
	char dir[PATH_MAX];  /* /tmp/zlcli-XXXXXX: specs and scratch files */
	char root[PATH_MAX]; /* dir/root: the state root zlapply gets */
};

static inline void cli_tmp_make(struct cli_tmp *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/zlcli-XXXXXX");
	if (!mkdtemp(t->dir))
		fail_msg("mkdtemp: %s", strerror(errno));
	cli_pathf(t->root, "%s/root", t->dir);
}

static inline int cli_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0 && errno != ENOENT)
		fprintf(stderr, "cleanup: remove %s: %s\n", path, strerror(errno));
	return 0;
}

static inline void cli_rm_rf(const char *dir)
{
	/* A missing directory is fine: nothing to clean. */
	nftw(dir, cli_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void cli_tmp_remove(struct cli_tmp *t)
{
	if (t->dir[0])
		cli_rm_rf(t->dir);
	t->dir[0] = '\0';
}

/* cmocka fixtures: a fresh cli_tmp per test, removed after it. */
static inline int cli_tmp_setup(void **state)
{
	struct cli_tmp *t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	cli_tmp_make(t);
	*state = t;
	return 0;
}

static inline int cli_tmp_teardown(void **state)
{
	struct cli_tmp *t = *state;
	cli_tmp_remove(t);
	free(t);
	return 0;
}

/* t->dir/NAME into out. */
static inline char *cli_path(const struct cli_tmp *t, const char *name, char out[PATH_MAX])
{
	return cli_pathf(out, "%s/%s", t->dir, name);
}

static inline void cli_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fail_msg("open %s: %s", path, strerror(errno));
	size_t len = strlen(text);
	if (fwrite(text, 1, len, f) != len || fclose(f) != 0)
		fail_msg("write %s: %s", path, strerror(errno));
}

/* Whole file; NULL when it cannot be read. Caller frees. */
static inline char *cli_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len - 1 == 0) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* ---- running zlapply ---- */

/* A started zlapply: its pid and where its output goes. */
struct cli_proc {
	pid_t pid;
	char out_path[64];
	char err_path[64];
};

/* Starts zlapply ARGS... [--root ROOT --backend mock] with stdin_text on its
 * stdin (NULL: /dev/null) and env ("NAME=VALUE", NULL-terminated; NULL: none)
 * on top of ours minus the variables that change zlapply's behaviour. root
 * NULL passes neither --root nor --backend (version, help, validate). uid >= 0
 * runs the child as that user. */
static inline void cli_spawn_as(const char *root, const char *stdin_text, const char *const *env,
				const char *const *args, int uid, struct cli_proc *p)
{
	char in_path[64] = "";
	snprintf(p->out_path, sizeof(p->out_path), "/tmp/zlcli-out-XXXXXX");
	snprintf(p->err_path, sizeof(p->err_path), "/tmp/zlcli-err-XXXXXX");
	int out_fd = mkstemp(p->out_path), err_fd = mkstemp(p->err_path), in_fd = -1;
	if (out_fd < 0 || err_fd < 0)
		fail_msg("mkstemp: %s", strerror(errno));
	if (stdin_text) {
		snprintf(in_path, sizeof(in_path), "/tmp/zlcli-in-XXXXXX");
		in_fd = mkstemp(in_path);
		if (in_fd < 0)
			fail_msg("mkstemp: %s", strerror(errno));
		size_t len = strlen(stdin_text);
		if (write(in_fd, stdin_text, len) != (ssize_t)len)
			fail_msg("write stdin file: %s", strerror(errno));
		lseek(in_fd, 0, SEEK_SET);
		unlink(in_path); /* the fd keeps it */
	} else {
		in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}

	const char *argv[64];
	size_t n = 0;
	argv[n++] = cli_bin();
	for (size_t i = 0; args[i]; i++) {
		assert_true(n < 58);
		argv[n++] = args[i];
	}
	if (root) {
		argv[n++] = "--root";
		argv[n++] = root;
		argv[n++] = "--backend";
		argv[n++] = "mock";
	}
	argv[n] = NULL;

	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
			_exit(126);
		unsetenv("ZLAPPLY_MOCK_DELAY_MS");
		unsetenv("ZLAPPLY_MOCK_FAIL");
		unsetenv("ZLAPPLY_ROOT");
		unsetenv("ZLAPPLY_BACKEND");
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		if (uid >= 0 && (setgid(65534) < 0 || setuid((uid_t)uid) < 0))
			_exit(126);
		execv(argv[0], (char *const *)argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in_fd);
	close(out_fd);
	close(err_fd);
	p->pid = pid;
}

static inline void cli_spawn(const char *root, const char *stdin_text, const char *const *env,
			     const char *const *args, struct cli_proc *p)
{
	cli_spawn_as(root, stdin_text, env, args, -1, p);
}

/* Exit code (128 + signal when killed by one); *out and *err (optional) get
 * what the process wrote. Caller frees them. */
static inline int cli_wait(struct cli_proc *p, char **out, char **err)
{
	int status;
	while (waitpid(p->pid, &status, 0) < 0)
		if (errno != EINTR)
			fail_msg("waitpid: %s", strerror(errno));
	char *o = cli_read_file(p->out_path), *e = cli_read_file(p->err_path);
	unlink(p->out_path);
	unlink(p->err_path);
	if (!o || !e)
		fail_msg("could not read the output of pid %d", (int)p->pid);
	if (out)
		*out = o;
	else
		free(o);
	if (err)
		*err = e;
	else
		free(e);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs and waits; see cli_spawn(). */
static inline int cli_run(const char *root, const char *stdin_text, const char *const *env,
			  const char *const *args, char **out, char **err)
{
	struct cli_proc p;
	cli_spawn(root, stdin_text, env, args, &p);
	return cli_wait(&p, out, err);
}

/* run_zlapply(root, stdin_text, &out, &err, "arg", ...) -> exit code.
 * run_zlapply_env(CLI_ENV("NAME=VALUE", ...), root, stdin_text, &out, &err, "arg", ...)
 * adds environment variables. */
#define run_zlapply(root, stdin_text, out, err, ...) \
	cli_run((root), (stdin_text), NULL, (const char *const[]){ __VA_ARGS__, NULL }, (out), (err))
#define CLI_ENV(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define run_zlapply_env(env, root, stdin_text, out, err, ...) \
	cli_run((root), (stdin_text), (env), (const char *const[]){ __VA_ARGS__, NULL }, (out), (err))

/* Asserts an exit code and shows the output when it is wrong. */
#define assert_exit(code, want, out, err)                                                        \
	do {                                                                                      \
		int code_ = (code), want_ = (want);                                               \
		if (code_ != want_)                                                               \
			fail_msg("exit code %d, expected %d\n--- stdout:\n%s--- stderr:\n%s", code_, \
				 want_, (out) ? (out) : "", (err) ? (err) : "");                  \
	} while (0)

/* ---- output ---- */

static inline size_t cli_count_lines(const char *text)
{
	size_t n = 0;
	for (const char *p = text; *p; p++)
		if (*p == '\n')
			n++;
	if (*text && text[strlen(text) - 1] != '\n')
		n++;
	return n;
}

/* Line number (0-based) of the first line equal to `line`, or -1. */
static inline long cli_line_index(const char *text, const char *line)
{
	size_t len = strlen(line);
	long idx = 0;
	for (const char *p = text; *p; idx++) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l == len && memcmp(p, line, len) == 0)
			return idx;
		if (!nl)
			break;
		p = nl + 1;
	}
	return -1;
}

/* Line number of the first line that is `action` or `action (reason)`, or -1. */
static inline long cli_action_index(const char *text, const char *action)
{
	size_t len = strlen(action);
	long idx = 0;
	for (const char *p = text; *p; idx++) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l >= len && memcmp(p, action, len) == 0 &&
		    (l == len || (l > len + 2 && p[len] == ' ' && p[len + 1] == '(' && p[l - 1] == ')')))
			return idx;
		if (!nl)
			break;
		p = nl + 1;
	}
	return -1;
}

/* The first line of text containing every one of the NULL-terminated needles
 * (malloc'd copy), or NULL. */
static inline char *cli_find_line(const char *text, const char *const *needles)
{
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, l);
		bool all = true;
		for (size_t i = 0; needles[i] && all; i++)
			all = strstr(line, needles[i]) != NULL;
		if (all)
			return line;
		free(line);
		if (!nl)
			break;
		p = nl + 1;
	}
	return NULL;
}
#define cli_has_line_with(text, ...) \
	cli_has_line_with_((text), (const char *const[]){ __VA_ARGS__, NULL })
static inline bool cli_has_line_with_(const char *text, const char *const *needles)
{
	char *l = cli_find_line(text, needles);
	free(l);
	return l != NULL;
}

/* Does a line start with "FILE:LINE:COL: " (LINE, COL numbers)? want_line > 0
 * also requires that line number. */
static inline bool cli_has_location(const char *text, const char *file, int want_line)
{
	size_t flen = strlen(file);
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		if (strncmp(p, file, flen) == 0 && p[flen] == ':') {
			char *end;
			long line = strtol(p + flen + 1, &end, 10);
			if (end > p + flen + 1 && *end == ':') {
				const char *c = end + 1;
				long col = strtol(c, &end, 10);
				(void)col;
				if (end > c && *end == ':' && line > 0 &&
				    (want_line <= 0 || line == want_line))
					return true;
			}
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return false;
}

/* ---- the state database, read directly ---- */

static inline char *cli_db_path(const char *root, char out[PATH_MAX])
{
	return cli_pathf(out, "%s/state.db", root);
}

static inline sqlite3 *cli_db_open(const char *root)
{
	char path[PATH_MAX];
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(cli_db_path(root, path), &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		fail_msg("open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static inline void cli_dump_query(sqlite3 *db, const char *sql, const char *bind,
				  const char *label, FILE *f)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (bind)
		sqlite3_bind_text(st, 1, bind, -1, SQLITE_TRANSIENT);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fprintf(f, "%s", label);
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const unsigned char *v = sqlite3_column_text(st, c);
			fprintf(f, "|%s=%s", sqlite3_column_name(st, c), v ? (const char *)v : "NULL");
		}
		fputc('\n', f);
	}
	if (rc != SQLITE_DONE)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

/* Every row of every table (deployment NULL) or only the rows of one
 * deployment, as text; "(no database)" when there is none. Caller frees. */
static inline char *cli_db_dump(const char *root, const char *deployment)
{
	char path[PATH_MAX];
	if (access(cli_db_path(root, path), F_OK) < 0)
		return strdup("(no database)\n");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	sqlite3 *db = cli_db_open(root);
	cli_dump_query(db, "PRAGMA user_version", NULL, "user_version", f);
	cli_dump_query(db, "SELECT type, name, sql FROM sqlite_master ORDER BY name", NULL, "schema", f);
	static const char *const tables[] = { "deployments", "services", "replicas", "journal",
					      "events" };
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char sql[256];
		const char *col = strcmp(tables[i], "deployments") == 0 ? "name" : "deployment";
		if (deployment)
			snprintf(sql, sizeof(sql), "SELECT * FROM %s WHERE %s = ?1 ORDER BY 1, 2, 3",
				 tables[i], col);
		else
			snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY 1, 2, 3", tables[i]);
		cli_dump_query(db, sql, deployment, tables[i], f);
	}
	sqlite3_close(db);
	fclose(f);
	return buf;
}

/* The first column of the first row of sql (an integer), binding the
 * optional text arg to ?1. */
static inline int64_t cli_db_int(const char *root, const char *sql, const char *arg)
{
	sqlite3 *db = cli_db_open(root);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("%s: no row (%s)", sql, sqlite3_errmsg(db));
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* The first column of the first row as text (malloc'd), NULL when no row
 * or NULL. */
static inline char *cli_db_text(const char *root, const char *sql, const char *arg)
{
	sqlite3 *db = cli_db_open(root);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
	char *v = NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* ---- the mock backend's files ---- */

static inline bool cli_is_container_file(const char *name)
{
	size_t l = strlen(name);
	return name[0] != '.' && !(l >= 4 && strcmp(name + l - 4, ".log") == 0);
}

static inline int cli_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted names in <root>/mock; containers_only skips logs and dotfiles.
 * Returns the count; *names (optional) gets a NULL-terminated array the
 * caller frees with cli_names_free(). */
static inline size_t cli_mock_names(const char *root, bool containers_only, char ***names)
{
	char dir[PATH_MAX];
	cli_pathf(dir, "%s/mock", root);
	char **list = calloc(1, sizeof(*list));
	size_t n = 0;
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (containers_only && !cli_is_container_file(de->d_name))
				continue;
			list = realloc(list, (n + 2) * sizeof(*list));
			list[n++] = strdup(de->d_name);
		}
		closedir(d);
	}
	list[n] = NULL;
	qsort(list, n, sizeof(*list), cli_cmp_str);
	if (names)
		*names = list;
	else {
		for (size_t i = 0; i < n; i++)
			free(list[i]);
		free(list);
	}
	return n;
}

static inline void cli_names_free(char **names)
{
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
}

/* Names and contents of every file under <root>/mock. Caller frees. */
static inline char *cli_mock_snapshot(const char *root)
{
	char **names;
	size_t n = cli_mock_names(root, false, &names);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		cli_pathf(path, "%s/mock/%s", root, names[i]);
		char *text = cli_read_file(path);
		fprintf(f, "== %s\n%s\n", names[i], text ? text : "(unreadable)");
		free(text);
	}
	fclose(f);
	cli_names_free(names);
	return buf;
}

/* Everything a run could change: the database and the backend's files. */
static inline char *cli_snapshot(const char *root)
{
	char *db = cli_db_dump(root, NULL), *mock = cli_mock_snapshot(root);
	size_t n = strlen(db) + strlen(mock) + 32;
	char *all = malloc(n);
	assert_non_null(all);
	snprintf(all, n, "%s-- mock --\n%s", db, mock);
	free(db);
	free(mock);
	return all;
}

/* ---- status -o json ---- */

/* Runs `status -o json [-d deployment]`, asserts exit 0 and a JSON object
 * with a "replicas" array; returns the parsed document (cJSON_Delete). */
static inline cJSON *cli_status_json(const char *root, const char *deployment)
{
	char *out = NULL, *err = NULL;
	int code = deployment ? run_zlapply(root, NULL, &out, &err, "status", "-o", "json", "-d",
					    deployment)
			      : run_zlapply(root, NULL, &out, &err, "status", "-o", "json");
	assert_exit(code, 0, out, err);
	cJSON *doc = cJSON_Parse(out);
	if (!doc || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "replicas")))
		fail_msg("status -o json is not {\"replicas\": [...]}:\n%s", out);
	free(out);
	free(err);
	return doc;
}

static inline cJSON *cli_json_replicas(cJSON *doc)
{
	return cJSON_GetObjectItemCaseSensitive(doc, "replicas");
}

/* The replica object of service/index in a status document, or NULL. */
static inline cJSON *cli_json_replica(cJSON *doc, const char *deployment, const char *service,
				      int index)
{
	cJSON *r;
	cJSON_ArrayForEach(r, cli_json_replicas(doc))
	{
		cJSON *d = cJSON_GetObjectItemCaseSensitive(r, "deployment");
		cJSON *s = cJSON_GetObjectItemCaseSensitive(r, "service");
		cJSON *i = cJSON_GetObjectItemCaseSensitive(r, "replica");
		if (cJSON_IsString(d) && strcmp(d->valuestring, deployment) == 0 && cJSON_IsString(s) &&
		    strcmp(s->valuestring, service) == 0 && cJSON_IsNumber(i) && i->valueint == index)
			return r;
	}
	return NULL;
}

static inline const char *cli_json_str(cJSON *obj, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* How many replicas of deployment the status document lists. */
static inline int cli_json_count(cJSON *doc, const char *deployment)
{
	int n = 0;
	cJSON *r;
	cJSON_ArrayForEach(r, cli_json_replicas(doc))
	{
		const char *d = cli_json_str(r, "deployment");
		if (!deployment || (d && strcmp(d, deployment) == 0))
			n++;
	}
	return n;
}

/* ---- specs ---- */

/* A one-service spec: service `web` with `replicas` replicas and env
 * GREETING=greeting (NULL: no env). */
static inline void cli_write_web_spec(const char *path, const char *deployment, int replicas,
				      const char *greeting)
{
	char text[1024];
	snprintf(text, sizeof(text),
		 "version: v1\n"
		 "deployment: %s\n"
		 "services:\n"
		 "  web:\n"
		 "    image: {name: \"nginx:1.25\"}\n"
		 "%s%s%s"
		 "    scale: {mode: fixed, replicas: %d}\n",
		 deployment, greeting ? "    env:\n      GREETING: \"" : "", greeting ? greeting : "",
		 greeting ? "\"\n" : "", replicas);
	cli_write_file(path, text);
}

#endif
