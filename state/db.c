/* db.c: opening <root>/state.db, the schema and its forward migrations,
 * transactions. Every statement runs through sql.c.
 *
 * The schema version lives in PRAGMA user_version. migrations[i] takes the
 * database from version i to i + 1; each runs in its own transaction together
 * with the version bump, so a crash mid-migration leaves the old version. */
#include "state/state-internal.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* The columns of replicas (both its tables: migrations 0 and 8 -> 9). */
#define REPLICAS_COLUMNS_DDL \
	"  deployment TEXT NOT NULL,\n" \
	"  service TEXT NOT NULL,\n" \
	"  idx INTEGER NOT NULL,\n" \
	"  backend TEXT,\n" \
	"  backend_id TEXT,\n" \
	"  state TEXT NOT NULL,\n" \
	"  pid INTEGER NOT NULL,\n" \
	"  pid_start_time INTEGER NOT NULL,\n" \
	"  ip TEXT,\n" \
	"  netns TEXT,\n" \
	"  netns_state TEXT,\n" \
	"  exit_code INTEGER NOT NULL,\n" \
	"  exit_signal INTEGER NOT NULL,\n" \
	"  exit_reason TEXT,\n" \
	"  restarts INTEGER NOT NULL,\n" \
	"  backoff_until INTEGER NOT NULL,\n" \
	"  health TEXT,\n" \
	"  spec_hash TEXT,\n" \
	"  spec_sections TEXT,\n" \
	"  image_digest TEXT,\n" \
	"  error TEXT,\n" \
	"  created_at INTEGER NOT NULL,\n" \
	"  started_at INTEGER NOT NULL,\n" \
	"  finished_at INTEGER NOT NULL,\n" \
	"  updated_at INTEGER NOT NULL,\n" \
	"  PRIMARY KEY (deployment, service, idx)\n"

/* Enum values are stored by name so the sqlite3 CLI shows readable rows.
 * Timestamps are ms since the epoch; -1 / 0 "unknown" values are stored as
 * they are (never NULL) so a row reads back exactly as it was written. */
static const char *const migrations[] = {
	/* 0 -> 1: the initial schema. */
	"CREATE TABLE deployments (\n"
	"  name TEXT PRIMARY KEY NOT NULL,\n"
	"  source TEXT,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  updated_at INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE services (\n"
	"  deployment TEXT NOT NULL,\n"
	"  name TEXT NOT NULL,\n"
	"  rtype TEXT,\n"
	"  desired_replicas INTEGER NOT NULL,\n"
	"  spec_hash TEXT,\n"
	"  updated_at INTEGER NOT NULL,\n"
	"  PRIMARY KEY (deployment, name)\n"
	") WITHOUT ROWID;\n"
	/* Services are the desired state of a deployment: they go with it.
	 * Replicas stay: they describe real containers that the reconciler
	 * removes (and then deletes) itself. */
	"CREATE TRIGGER deployments_delete_services AFTER DELETE ON deployments\n"
	"BEGIN DELETE FROM services WHERE deployment = old.name; END;\n"
	"CREATE TABLE replicas (\n"
	REPLICAS_COLUMNS_DDL
	") WITHOUT ROWID;\n"
	"CREATE TABLE journal (\n"
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"  deployment TEXT,\n"
	"  service TEXT,\n"
	"  idx INTEGER NOT NULL,\n"
	"  action TEXT NOT NULL,\n"
	"  spec_hash TEXT,\n"
	"  status TEXT NOT NULL,\n"
	"  detail TEXT,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  finished_at INTEGER NOT NULL DEFAULT 0\n"
	");\n"
	"CREATE INDEX journal_status ON journal (status);\n"
	"CREATE TABLE events (\n"
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"  time INTEGER NOT NULL,\n"
	"  deployment TEXT,\n"
	"  service TEXT,\n"
	"  idx INTEGER NOT NULL,\n"
	"  kind TEXT NOT NULL,\n"
	"  message TEXT\n"
	");\n"
	"CREATE INDEX events_deployment ON events (deployment);\n",
	/* 1 -> 2: pulled images (the images issue). */
	"CREATE TABLE images (\n"
	"  reference TEXT PRIMARY KEY NOT NULL,\n"
	"  manifest_digest TEXT NOT NULL,\n"
	"  config_digest TEXT NOT NULL,\n"
	"  config TEXT NOT NULL,\n"
	"  layers TEXT NOT NULL,\n"
	"  size INTEGER NOT NULL,\n"
	"  pulled_at INTEGER NOT NULL,\n"
	"  last_used INTEGER NOT NULL\n"
	");\n",
	/* 2 -> 3: IP address leases (the networking issue). One address per
	 * replica; the primary key makes two replicas on one address impossible. */
	"CREATE TABLE leases (\n"
	"  ip TEXT PRIMARY KEY NOT NULL,\n"
	"  deployment TEXT NOT NULL,\n"
	"  service TEXT NOT NULL,\n"
	"  idx INTEGER NOT NULL,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  UNIQUE (deployment, service, idx)\n"
	");\n",
	/* 3 -> 4: runs of jobs and cron services, and cron schedules (the
	 * restarts/jobs/cron issue). A run row is written when a run starts and
	 * completed when its exit is observed; the last few per service are
	 * kept. A schedule row remembers the last scheduled time a cron service
	 * was run for (or the time it was first applied), so missed runs
	 * collapse into one and a later run continues where this one stopped.
	 * Both go with their service. */
	"CREATE TABLE runs (\n"
	"  deployment TEXT NOT NULL,\n"
	"  service TEXT NOT NULL,\n"
	"  run_no INTEGER NOT NULL,\n"
	"  idx INTEGER NOT NULL,\n"
	"  spec_hash TEXT,\n"
	"  cause TEXT,\n"
	"  scheduled_s INTEGER NOT NULL,\n"
	"  started_at INTEGER NOT NULL,\n"
	"  finished_at INTEGER NOT NULL,\n"
	"  exit_code INTEGER NOT NULL,\n"
	"  exit_signal INTEGER NOT NULL,\n"
	"  reason TEXT,\n"
	"  log_path TEXT,\n"
	"  PRIMARY KEY (deployment, service, run_no)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE schedules (\n"
	"  deployment TEXT NOT NULL,\n"
	"  service TEXT NOT NULL,\n"
	"  last_scheduled_s INTEGER NOT NULL,\n"
	"  next_s INTEGER NOT NULL,\n"
	"  PRIMARY KEY (deployment, service)\n"
	") WITHOUT ROWID;\n"
	"CREATE TRIGGER services_delete_runs AFTER DELETE ON services\n"
	"BEGIN\n"
	"  DELETE FROM runs WHERE deployment = old.deployment AND service = old.name;\n"
	"  DELETE FROM schedules WHERE deployment = old.deployment AND service = old.name;\n"
	"END;\n",
	/* 4 -> 5: every create asks whether another replica holds its backend
	 * id (ids join names that may contain '-'); without an index that is a
	 * scan per create. */
	"CREATE INDEX replicas_backend_id ON replicas (backend_id);\n",
	/* 5 -> 6: facts about the root itself: its identity (root-id, to tell
	 * a database copied from another root) and the bridge and subnet its
	 * replicas use (so a changed --bridge/--subnet is noticed). */
	"CREATE TABLE meta (\n"
	"  key TEXT PRIMARY KEY,\n"
	"  value TEXT NOT NULL\n"
	");\n",
	/* 6 -> 7: events carry their facts as a JSON object (exit code, signal,
	 * reason, back-off, image digest...) beside the sentence, for `events
	 * -o json`. */
	"ALTER TABLE events ADD COLUMN data TEXT;\n",
	/* 7 -> 8: history and rollback: each deployment's revisions (the spec
	 * as applied, where from, its hash, what it restored, how it ended).
	 * They outlive a delete, so a deleted deployment can be rolled back. */
	"CREATE TABLE revisions (\n"
	"  deployment TEXT NOT NULL,\n"
	"  number INTEGER NOT NULL,\n"
	"  hash TEXT NOT NULL,\n"
	"  spec TEXT,\n"
	"  source TEXT,\n"
	"  cause TEXT,\n"
	"  restores INTEGER NOT NULL,\n"
	"  status TEXT NOT NULL,\n"
	"  reason TEXT,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  PRIMARY KEY (deployment, number)\n"
	") WITHOUT ROWID;\n",
	/* 8 -> 9: replicas as a rowid table. A replica row (its spec_sections
	 * alone is ~1 KB) is larger than a WITHOUT ROWID table keeps in its
	 * b-tree page (~1 KB of 4 KiB), so every row spilled into an overflow
	 * page of its own: 40 MB of pages, 85% empty, for 10,000 replicas, read
	 * by every apply. A rowid table keeps rows up to ~4 KB in place, three
	 * or so to a page; the primary key becomes a unique index. */
	"CREATE TABLE replicas_new (\n"
	REPLICAS_COLUMNS_DDL
	");\n"
	"INSERT INTO replicas_new SELECT deployment, service, idx, backend, backend_id, state, pid, "
	"pid_start_time, ip, netns, netns_state, exit_code, exit_signal, exit_reason, restarts, "
	"backoff_until, health, spec_hash, spec_sections, image_digest, error, created_at, "
	"started_at, finished_at, updated_at FROM replicas ORDER BY deployment, service, idx;\n"
	"DROP TABLE replicas;\n"
	"ALTER TABLE replicas_new RENAME TO replicas;\n"
	"CREATE INDEX replicas_backend_id ON replicas (backend_id);\n",
	/* 9 -> 10: revisions as a rowid table, spec last. A revision's spec
	 * is the whole file (~1 MB for 5,000 services): in a WITHOUT ROWID
	 * table it is part of the key, so every lookup by (deployment,
	 * number) read whole specs to compare keys, and every other column
	 * stored after it sat behind its overflow chain. Now the key is a
	 * small index, and the columns but spec are read without it. */
	"CREATE TABLE revisions_new (\n"
	"  deployment TEXT NOT NULL,\n"
	"  number INTEGER NOT NULL,\n"
	"  hash TEXT NOT NULL,\n"
	"  source TEXT,\n"
	"  cause TEXT,\n"
	"  restores INTEGER NOT NULL,\n"
	"  status TEXT NOT NULL,\n"
	"  reason TEXT,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  spec TEXT,\n"
	"  PRIMARY KEY (deployment, number)\n"
	");\n"
	"INSERT INTO revisions_new (deployment, number, hash, source, cause, restores, status, "
	"reason, created_at, spec) SELECT deployment, number, hash, source, cause, restores, "
	"status, reason, created_at, spec FROM revisions ORDER BY deployment, number;\n"
	"DROP TABLE revisions;\n"
	"ALTER TABLE revisions_new RENAME TO revisions;\n",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STATE_SCHEMA_VERSION,
	       "one migration per schema version");

#define STATE_STR_(x) #x
#define STATE_STR(x) STATE_STR_(x)

static const char sql_foreign_keys[] = "PRAGMA foreign_keys = ON";
static const char sql_journal_mode_wal[] = "PRAGMA journal_mode = WAL";
static const char sql_synchronous[] = "PRAGMA synchronous = NORMAL";
static const char sql_user_version[] = "PRAGMA user_version";
/* PRAGMA takes no parameters; the value is our own constant. */
static const char sql_set_user_version[] =
	"PRAGMA user_version = " STATE_STR(STATE_SCHEMA_VERSION);
static const char sql_begin[] = "BEGIN IMMEDIATE";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";

static int read_user_version(struct state_db *db, int *version, struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		state_stmt(db, STMT_USER_VERSION, sql_user_version, err);
	if (!st)
		return -1;
	int rc = state_step_row(db, st, err, "read schema version");
	if (rc < 0)
		return -1;
	if (rc == 0)
		return state_sql_fail(db, err, "read schema version");
	*version = sqlite3_column_int(st, 0);
	return 0;
}

static int check_not_newer(struct state_db *db, int version, struct zl_err *err)
{
	if (version > STATE_SCHEMA_VERSION)
		return zl_fail(err,
			       "state: %s has schema version %d, this zlapply knows up to %d; "
			       "upgrade zlapply",
			       db->path, version, STATE_SCHEMA_VERSION);
	return 0;
}

/* Applies every migration the database has not seen yet. The version is read
 * again inside each write transaction: another zlapply may have migrated
 * between our first read and our BEGIN IMMEDIATE. */
static int migrate(struct state_db *db, struct zl_err *err)
{
	int current;
	if (read_user_version(db, &current, err) < 0 || check_not_newer(db, current, err) < 0)
		return -1;
	/* The common case takes no write lock at all. */
	if (current == STATE_SCHEMA_VERSION) {
		db->schema_version = current;
		return 0;
	}
	/* Every pending migration in one transaction: a reader (status) never
	 * sees a half-migrated database, and a crash leaves the old version. */
	if (state_sql_run(db, STMT_BEGIN, sql_begin, err, "migrate: begin") < 0)
		return -1;
	int version;
	if (read_user_version(db, &version, err) < 0 || check_not_newer(db, version, err) < 0)
		goto fail;
	for (; version < STATE_SCHEMA_VERSION; version++) {
		if (state_sql_script(db, migrations[version], err, "migrate to schema version %d",
				     version + 1) < 0)
			goto fail;
		zl_log(ZL_LOG_DEBUG, "state: migrating %s to schema version %d", db->path,
		       version + 1);
	}
	if (state_sql_run(db, STMT_SET_USER_VERSION, sql_set_user_version, err, "migrate") < 0 ||
	    state_sql_run(db, STMT_COMMIT, sql_commit, err, "migrate: commit") < 0)
		goto fail;
	db->schema_version = STATE_SCHEMA_VERSION;
	return 0;
fail:
	/* Nothing of a failed migration may stay; a rollback error adds nothing. */
	state_rollback(db);
	return -1;
}

static int configure(struct state_db *db, struct zl_err *err)
{
	/* Readers wait for a writer's checkpoint or migration instead of failing. */
	if (sqlite3_busy_timeout(db->sql, 10000) != SQLITE_OK)
		return state_sql_fail(db, err, "set busy timeout");
	if (state_sql_run(db, STMT_FOREIGN_KEYS, sql_foreign_keys, err, "enable foreign keys") < 0)
		return -1;
	if (db->read_only)
		return 0;
	{
		_cleanup_stmt_reset_ sqlite3_stmt *st =
			state_stmt(db, STMT_JOURNAL_MODE_WAL, sql_journal_mode_wal, err);
		if (!st)
			return -1;
		int rc = state_step_row(db, st, err, "enable WAL");
		if (rc < 0)
			return -1;
		if (rc == 0)
			return state_sql_fail(db, err, "enable WAL");
		/* Some filesystems (network ones) cannot do WAL; sqlite then keeps
		 * the old mode. Still correct, only readers may wait for writers. */
		const char *mode = (const char *)sqlite3_column_text(st, 0);
		if (!mode || strcmp(mode, "wal") != 0)
			zl_log(ZL_LOG_WARN, "state: %s: WAL not available, journal mode is %s",
			       db->path, mode ? mode : "unknown");
	}
	return state_sql_run(db, STMT_SYNCHRONOUS, sql_synchronous, err, "set synchronous");
}

static int open_read_only_checks(struct state_db *db, struct zl_err *err)
{
	int version;
	if (read_user_version(db, &version, err) < 0 || check_not_newer(db, version, err) < 0)
		return -1;
	/* A file that exists but never got a schema holds nothing either. */
	if (version == 0)
		return zl_err_set(err, ZL_ERR_FAIL, ENOENT, "state: %s has no schema yet",
				  db->path);
	if (version < STATE_SCHEMA_VERSION)
		return zl_fail(err,
			       "state: %s has schema version %d, older than this zlapply's %d; "
			       "run an apply to migrate it",
			       db->path, version, STATE_SCHEMA_VERSION);
	db->schema_version = version;
	return 0;
}

/* A read-only open (status, doctor) must work where nothing can be written:
 * a full disk, a read-only mount. SQLite's WAL reader makes and sizes the
 * -shm file first; when that fails, the database is read again through the
 * -shm mapped read-only (readonly_shm: with no writer holding it, SQLite
 * rebuilds the index from the -wal in its own memory), else, with no -shm
 * and nothing in the -wal (no writer can be at work), as an immutable file.
 * Returns 0 with db->sql open and checked. */
static int open_read_only(struct state_db *db, struct zl_err *err)
{
	static const char *const params[] = { NULL, "mode=ro&readonly_shm=1", "mode=ro&immutable=1" };
	struct zl_err first = ZL_ERR_INIT;
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		struct zl_err aerr = ZL_ERR_INIT;
		_cleanup_free_ char *shm = zl_xasprintf("%s-shm", db->path);
		_cleanup_free_ char *wal = zl_xasprintf("%s-wal", db->path);
		struct stat st;
		if (i == 2 && (access(shm, F_OK) == 0 || (stat(wal, &st) == 0 && st.st_size > 0)))
			break;
		_cleanup_free_ char *uri = NULL;
		if (params[i]) {
			struct zl_buf u = { 0 };
			zl_buf_puts(&u, "file:");
			for (const unsigned char *c = (const unsigned char *)db->path; *c; c++)
				if (strchr("?#%", *c) || *c < 0x21 || *c > 0x7e)
					zl_buf_printf(&u, "%%%02X", *c);
				else
					zl_buf_append(&u, (const char *)c, 1);
			zl_buf_printf(&u, "?%s", params[i]);
			uri = zl_buf_steal(&u);
		}
		state_detach(db); /* the previous attempt's */
		int rc = sqlite3_open_v2(uri ? uri : db->path, &db->sql,
					 SQLITE_OPEN_READONLY | (uri ? SQLITE_OPEN_URI : 0), NULL);
		if (rc != SQLITE_OK) {
			zl_fail(&aerr, "state: open %s: %s", db->path,
				db->sql ? sqlite3_errmsg(db->sql) : "out of memory");
		} else {
			sqlite3_extended_result_codes(db->sql, 1);
			if (configure(db, &aerr) == 0 && open_read_only_checks(db, &aerr) == 0)
				return 0;
		}
		if (i == 0)
			first = aerr;
		/* Only a failure to write (or make) the -shm or -wal is worth a retry. */
		int code = db->sql ? sqlite3_extended_errcode(db->sql) & 0xff : SQLITE_NOMEM;
		if (code != SQLITE_IOERR && code != SQLITE_FULL && code != SQLITE_CANTOPEN &&
		    code != SQLITE_READONLY)
			break;
	}
	*err = first;
	return -1;
}

/* Opens db->path for writing (creating it) and sets the connection up (a
 * read-only database is never detached, so attach needs no other mode);
 * -1 with err leaves db->sql as it is, for the caller to tell a corrupt
 * file. worker: see state_attach(). */
static int open_rw(struct state_db *db, bool worker, struct zl_err *err)
{
	if (sqlite3_open_v2(db->path, &db->sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK)
		return zl_fail(err, "state: open %s: %s", db->path,
			       db->sql ? sqlite3_errmsg(db->sql) : "out of memory");
	sqlite3_extended_result_codes(db->sql, 1);
	if (worker && sqlite3_db_config(db->sql, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL) != SQLITE_OK)
		return state_sql_fail(db, err, "keep the checkpoint for the main connection");
	return configure(db, err);
}

int state_open(const char *root, bool read_only, struct state_db **out, struct zl_err *err)
{
	*out = NULL;
	struct state_db *db = zl_xcalloc(1, sizeof(*db));
	db->path = zl_xasprintf("%s/state.db", root);
	db->read_only = read_only;

	if (read_only) {
		struct stat st;
		if (stat(db->path, &st) < 0) {
			zl_err_set(err, ZL_ERR_FAIL, errno, "state: cannot open %s", db->path);
			goto fail;
		}
		if (open_read_only(db, err) < 0)
			goto fail;
		*out = db;
		return 0;
	}
	if (zl_mkdir_p(root, 0700, err) < 0) {
		zl_err_prefix(err, "state");
		goto fail;
	}
	if (open_rw(db, false, err) < 0 || migrate(db, err) < 0)
		goto fail;
	*out = db;
	return 0;
fail:
	if (db->sql) {
		int code = sqlite3_extended_errcode(db->sql) & 0xff;
		if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
			/* Said apart from other failures: callers offer the way out. */
			err->sys_errno = EBADMSG;
			zl_err_prefix(err, "%s is corrupt (docs/operations.md, \"Lost or corrupt state\")",
				      db->path);
		}
	}
	state_close(db);
	return -1;
}

void state_close(struct state_db *db)
{
	if (!db)
		return;
	state_detach(db);
	free(db->path);
	free(db);
}

void state_detach(struct state_db *db)
{
	if (!db || !db->sql)
		return;
	state_stmts_finalize(db);
	/* With every statement finalized, close cannot report "busy". */
	sqlite3_close(db->sql);
	db->sql = NULL;
}

int state_attach(struct state_db *db, bool worker, struct zl_err *err)
{
	if (db->sql)
		return 0;
	/* Opened and migrated before it was detached: only the connection and
	 * its settings are made again. */
	if (open_rw(db, worker, err) < 0) {
		state_detach(db); /* all or nothing: no half-set connection */
		return -1;
	}
	return 0;
}

int state_schema_version(struct state_db *db) { return db->schema_version; }

int64_t state_total_changes(struct state_db *db) { return sqlite3_total_changes64(db->sql); }

int state_begin(struct state_db *db, struct zl_err *err)
{
	return state_sql_run(db, STMT_BEGIN, sql_begin, err, "begin transaction");
}

int state_commit(struct state_db *db, struct zl_err *err)
{
	return state_sql_run(db, STMT_COMMIT, sql_commit, err, "commit");
}

void state_rollback(struct state_db *db)
{
	/* Rolling back with no transaction open is harmless; nothing to report. */
	if (!sqlite3_get_autocommit(db->sql))
		state_sql_run(db, STMT_ROLLBACK, sql_rollback, NULL, "rollback");
}
