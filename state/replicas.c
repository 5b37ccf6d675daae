/* replicas.c: the replicas table, one row per replica zlapply created, with
 * everything observe needs to check it cheaply (pid + start time, exit
 * record, health, spec hash, ...).
 *
 * An upsert whose values equal the stored row writes nothing (the DO UPDATE
 * has a WHERE that compares every column NULL-safely), so a no-op apply
 * changes no row and the database file stays untouched. */
#include "state/state-internal.h"

#include <string.h>

static const char *const replica_state_names[] = {
	[STATE_REPLICA_CREATING] = "creating", [STATE_REPLICA_CREATED] = "created",
	[STATE_REPLICA_RUNNING] = "running",   [STATE_REPLICA_EXITED] = "exited",
	[STATE_REPLICA_STOPPED] = "stopped",   [STATE_REPLICA_FAILED] = "failed",
	[STATE_REPLICA_REMOVING] = "removing", [STATE_REPLICA_UNKNOWN] = "unknown",
};
#define N_REPLICA_STATES (sizeof(replica_state_names) / sizeof(replica_state_names[0]))

const char *state_replica_state_name(enum state_replica_state s)
{
	if ((unsigned)s >= N_REPLICA_STATES)
		return "invalid";
	return replica_state_names[s];
}

int state_replica_state_parse(const char *name, enum state_replica_state *s)
{
	for (size_t i = 0; name && i < N_REPLICA_STATES; i++) {
		if (strcmp(name, replica_state_names[i]) == 0) {
			*s = (enum state_replica_state)i;
			return 0;
		}
	}
	return -1;
}

void state_replica_init(struct state_replica *r)
{
	memset(r, 0, sizeof(*r));
	r->state = STATE_REPLICA_CREATING;
	r->pid = -1;
	r->pid_start_time = -1;
	r->exit_code = -1;
}

void state_replica_clear(struct state_replica *r)
{
	if (!r)
		return;
	free(r->deployment);
	free(r->service);
	free(r->backend);
	free(r->backend_id);
	free(r->ip);
	free(r->netns);
	free(r->netns_state);
	free(r->exit_reason);
	free(r->health);
	free(r->spec_hash);
	free(r->spec_sections);
	free(r->image_digest);
	free(r->error);
	memset(r, 0, sizeof(*r));
}

void state_replica_copy(struct state_replica *dst, const struct state_replica *src)
{
	*dst = *src;
	dst->deployment = zl_xstrdup(src->deployment);
	dst->service = zl_xstrdup(src->service);
	dst->backend = zl_xstrdup(src->backend);
	dst->backend_id = zl_xstrdup(src->backend_id);
	dst->ip = zl_xstrdup(src->ip);
	dst->netns = zl_xstrdup(src->netns);
	dst->netns_state = zl_xstrdup(src->netns_state);
	dst->exit_reason = zl_xstrdup(src->exit_reason);
	dst->health = zl_xstrdup(src->health);
	dst->spec_hash = zl_xstrdup(src->spec_hash);
	dst->spec_sections = zl_xstrdup(src->spec_sections);
	dst->image_digest = zl_xstrdup(src->image_digest);
	dst->error = zl_xstrdup(src->error);
}

void state_replicas_free(struct state_replicas *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++)
		state_replica_clear(&list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = list->cap = 0;
}

/* Column order shared by the load and upsert statements (1-based binds,
 * 0-based columns: bind i+1 <-> column i). */
#define REPLICA_COLUMNS                                                                        \
	"deployment, service, idx, backend, backend_id, state, pid, pid_start_time, ip, "      \
	"netns, netns_state, exit_code, exit_signal, exit_reason, restarts, backoff_until, "  \
	"health, spec_hash, spec_sections, image_digest, error, created_at, started_at, "     \
	"finished_at, updated_at"

enum {
	COL_DEPLOYMENT, COL_SERVICE, COL_IDX, COL_BACKEND, COL_BACKEND_ID, COL_STATE, COL_PID,
	COL_PID_START_TIME, COL_IP, COL_NETNS, COL_NETNS_STATE, COL_EXIT_CODE, COL_EXIT_SIGNAL,
	COL_EXIT_REASON, COL_RESTARTS, COL_BACKOFF_UNTIL, COL_HEALTH, COL_SPEC_HASH,
	COL_SPEC_SECTIONS, COL_IMAGE_DIGEST, COL_ERROR, COL_CREATED_AT, COL_STARTED_AT,
	COL_FINISHED_AT, COL_UPDATED_AT, N_COLS,
};

static const char sql_load_all[] =
	"SELECT " REPLICA_COLUMNS " FROM replicas ORDER BY deployment, service, idx";
static const char sql_load_deployment[] =
	"SELECT " REPLICA_COLUMNS " FROM replicas WHERE deployment = ?1 "
	"ORDER BY deployment, service, idx";
/* The primary key's index: cost by the service's rows, not the deployment's. */
static const char sql_load_service[] =
	"SELECT " REPLICA_COLUMNS " FROM replicas WHERE deployment = ?1 AND service = ?2 "
	"ORDER BY deployment, service, idx";

/* updated_at alone differing is no change: a caller that stamps every
 * upsert with "now" must still get a no-op apply that writes nothing. */
static const char sql_upsert[] =
	"INSERT INTO replicas (" REPLICA_COLUMNS ") VALUES "
	"(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
	"?19, ?20, ?21, ?22, ?23, ?24, ?25) "
	"ON CONFLICT (deployment, service, idx) DO UPDATE SET "
	"backend = excluded.backend, backend_id = excluded.backend_id, "
	"state = excluded.state, pid = excluded.pid, pid_start_time = excluded.pid_start_time, "
	"ip = excluded.ip, netns = excluded.netns, netns_state = excluded.netns_state, "
	"exit_code = excluded.exit_code, exit_signal = excluded.exit_signal, "
	"exit_reason = excluded.exit_reason, restarts = excluded.restarts, "
	"backoff_until = excluded.backoff_until, health = excluded.health, "
	"spec_hash = excluded.spec_hash, spec_sections = excluded.spec_sections, "
	"image_digest = excluded.image_digest, error = excluded.error, "
	"created_at = excluded.created_at, started_at = excluded.started_at, "
	"finished_at = excluded.finished_at, updated_at = excluded.updated_at "
	"WHERE backend IS NOT excluded.backend OR backend_id IS NOT excluded.backend_id "
	"OR state IS NOT excluded.state OR pid IS NOT excluded.pid "
	"OR pid_start_time IS NOT excluded.pid_start_time OR ip IS NOT excluded.ip "
	"OR netns IS NOT excluded.netns OR netns_state IS NOT excluded.netns_state "
	"OR exit_code IS NOT excluded.exit_code OR exit_signal IS NOT excluded.exit_signal "
	"OR exit_reason IS NOT excluded.exit_reason OR restarts IS NOT excluded.restarts "
	"OR backoff_until IS NOT excluded.backoff_until OR health IS NOT excluded.health "
	"OR spec_hash IS NOT excluded.spec_hash OR spec_sections IS NOT excluded.spec_sections "
	"OR image_digest IS NOT excluded.image_digest OR error IS NOT excluded.error "
	"OR created_at IS NOT excluded.created_at OR started_at IS NOT excluded.started_at "
	"OR finished_at IS NOT excluded.finished_at";

static const char sql_delete[] =
	"DELETE FROM replicas WHERE deployment = ?1 AND service = ?2 AND idx = ?3";

/* Another replica (not ?2/?3/?4) that holds backend id ?1. */
static const char sql_id_owner[] =
	"SELECT deployment, service, idx FROM replicas WHERE backend_id = ?1 "
	"AND NOT (deployment = ?2 AND service = ?3 AND idx = ?4) LIMIT 1";

static int read_row(struct state_db *db, sqlite3_stmt *st, struct state_replica *r,
		    struct zl_err *err)
{
	memset(r, 0, sizeof(*r));
	r->deployment = state_column_strdup(st, COL_DEPLOYMENT);
	r->service = state_column_strdup(st, COL_SERVICE);
	r->index = sqlite3_column_int(st, COL_IDX);
	r->backend = state_column_strdup(st, COL_BACKEND);
	r->backend_id = state_column_strdup(st, COL_BACKEND_ID);
	const char *state = (const char *)sqlite3_column_text(st, COL_STATE);
	if (state_replica_state_parse(state, &r->state) < 0) {
		zl_fail(err, "state: replica %s/%s-rep-%d: unknown state \"%s\" in %s",
			r->deployment ? r->deployment : "?", r->service ? r->service : "?",
			r->index, state ? state : "(null)", db->path);
		state_replica_clear(r);
		return -1;
	}
	r->pid = sqlite3_column_int64(st, COL_PID);
	r->pid_start_time = sqlite3_column_int64(st, COL_PID_START_TIME);
	r->ip = state_column_strdup(st, COL_IP);
	r->netns = state_column_strdup(st, COL_NETNS);
	r->netns_state = state_column_strdup(st, COL_NETNS_STATE);
	r->exit_code = sqlite3_column_int(st, COL_EXIT_CODE);
	r->exit_signal = sqlite3_column_int(st, COL_EXIT_SIGNAL);
	r->exit_reason = state_column_strdup(st, COL_EXIT_REASON);
	r->restarts = sqlite3_column_int(st, COL_RESTARTS);
	r->backoff_until = sqlite3_column_int64(st, COL_BACKOFF_UNTIL);
	r->health = state_column_strdup(st, COL_HEALTH);
	r->spec_hash = state_column_strdup(st, COL_SPEC_HASH);
	r->spec_sections = state_column_strdup(st, COL_SPEC_SECTIONS);
	r->image_digest = state_column_strdup(st, COL_IMAGE_DIGEST);
	r->error = state_column_strdup(st, COL_ERROR);
	r->created_at = sqlite3_column_int64(st, COL_CREATED_AT);
	r->started_at = sqlite3_column_int64(st, COL_STARTED_AT);
	r->finished_at = sqlite3_column_int64(st, COL_FINISHED_AT);
	r->updated_at = sqlite3_column_int64(st, COL_UPDATED_AT);
	return 0;
}

static int load_rows(struct state_db *db, const char *deployment, const char *service,
		     struct state_replicas *out, struct zl_err *err)
{
	*out = (struct state_replicas){ 0 };
	_cleanup_stmt_reset_ sqlite3_stmt *st = NULL;
	if (service)
		st = state_stmt(db, STMT_REPLICAS_LOAD_SERVICE, sql_load_service, err);
	else if (deployment)
		st = state_stmt(db, STMT_REPLICAS_LOAD_DEPLOYMENT, sql_load_deployment, err);
	else
		st = state_stmt(db, STMT_REPLICAS_LOAD_ALL, sql_load_all, err);
	if (!st)
		return -1;
	if (deployment)
		state_bind_text(st, 1, deployment);
	if (service)
		state_bind_text(st, 2, service);
	int rc;
	while ((rc = state_step_row(db, st, err, "load replicas")) > 0) {
		zl_grow(&out->items, sizeof(out->items[0]), &out->cap, out->count + 1);
		if (read_row(db, st, &out->items[out->count], err) < 0)
			goto fail;
		out->count++;
	}
	if (rc < 0)
		goto fail;
	return 0;
fail:
	state_replicas_free(out);
	return -1;
}

int state_replicas_load(struct state_db *db, const char *deployment, struct state_replicas *out,
			struct zl_err *err)
{
	return load_rows(db, deployment, NULL, out, err);
}

int state_replicas_load_service(struct state_db *db, const char *deployment, const char *service,
				struct state_replicas *out, struct zl_err *err)
{
	return load_rows(db, deployment, service, out, err);
}

int state_replica_upsert(struct state_db *db, const struct state_replica *r, struct zl_err *err)
{
	if (!r->deployment || !r->service || r->index < 1)
		return zl_invalid(err, "state: replica upsert needs a deployment, a service and "
				       "an index >= 1");
	const char *state = state_replica_state_name(r->state);
	if (strcmp(state, "invalid") == 0)
		return zl_invalid(err, "state: replica %s/%s-rep-%d: invalid state %d",
				  r->deployment, r->service, r->index, (int)r->state);
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_REPLICA_UPSERT, sql_upsert, err);
	if (!st)
		return -1;
	state_bind_text(st, COL_DEPLOYMENT + 1, r->deployment);
	state_bind_text(st, COL_SERVICE + 1, r->service);
	sqlite3_bind_int(st, COL_IDX + 1, r->index);
	state_bind_text(st, COL_BACKEND + 1, r->backend);
	state_bind_text(st, COL_BACKEND_ID + 1, r->backend_id);
	state_bind_text(st, COL_STATE + 1, state);
	sqlite3_bind_int64(st, COL_PID + 1, r->pid);
	sqlite3_bind_int64(st, COL_PID_START_TIME + 1, r->pid_start_time);
	state_bind_text(st, COL_IP + 1, r->ip);
	state_bind_text(st, COL_NETNS + 1, r->netns);
	state_bind_text(st, COL_NETNS_STATE + 1, r->netns_state);
	sqlite3_bind_int(st, COL_EXIT_CODE + 1, r->exit_code);
	sqlite3_bind_int(st, COL_EXIT_SIGNAL + 1, r->exit_signal);
	state_bind_text(st, COL_EXIT_REASON + 1, r->exit_reason);
	sqlite3_bind_int(st, COL_RESTARTS + 1, r->restarts);
	sqlite3_bind_int64(st, COL_BACKOFF_UNTIL + 1, r->backoff_until);
	state_bind_text(st, COL_HEALTH + 1, r->health);
	state_bind_text(st, COL_SPEC_HASH + 1, r->spec_hash);
	state_bind_text(st, COL_SPEC_SECTIONS + 1, r->spec_sections);
	state_bind_text(st, COL_IMAGE_DIGEST + 1, r->image_digest);
	state_bind_text(st, COL_ERROR + 1, r->error);
	sqlite3_bind_int64(st, COL_CREATED_AT + 1, r->created_at);
	sqlite3_bind_int64(st, COL_STARTED_AT + 1, r->started_at);
	sqlite3_bind_int64(st, COL_FINISHED_AT + 1, r->finished_at);
	sqlite3_bind_int64(st, COL_UPDATED_AT + 1, r->updated_at);
	return state_step_done(db, st, err, "save replica %s/%s-rep-%d", r->deployment,
			       r->service, r->index);
}

int state_replica_delete(struct state_db *db, const char *deployment, const char *service,
			 int index, struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_REPLICA_DELETE, sql_delete, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	state_bind_text(st, 2, service);
	sqlite3_bind_int(st, 3, index);
	return state_step_done(db, st, err, "delete replica %s/%s-rep-%d", deployment, service,
			       index);
}

static const char sql_ids[] =
	"SELECT backend_id FROM replicas WHERE backend_id IS NOT NULL ORDER BY backend_id";

int state_replica_ids(struct state_db *db, char ***ids, size_t *count, struct zl_err *err)
{
	*ids = NULL;
	*count = 0;
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_REPLICA_IDS, sql_ids, err);
	if (!st)
		return -1;
	size_t cap = 0;
	int rc;
	while ((rc = state_step_row(db, st, err, "list replica ids")) > 0) {
		zl_grow(ids, sizeof(**ids), &cap, *count + 1);
		(*ids)[(*count)++] = state_column_strdup(st, 0);
	}
	if (rc < 0) {
		state_names_free(*ids, *count);
		*ids = NULL;
		*count = 0;
		return -1;
	}
	return 0;
}

int state_replica_id_owner(struct state_db *db, const char *backend_id, const char *deployment,
			   const char *service, int index, char **owner, struct zl_err *err)
{
	*owner = NULL;
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_REPLICA_ID_OWNER, sql_id_owner, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, backend_id);
	state_bind_text(st, 2, deployment);
	state_bind_text(st, 3, service);
	sqlite3_bind_int(st, 4, index);
	int rc = state_step_row(db, st, err, "look up replica id %s", backend_id);
	if (rc > 0)
		*owner = zl_xasprintf("%s/%s-rep-%d", (const char *)sqlite3_column_text(st, 0),
				      (const char *)sqlite3_column_text(st, 1),
				      sqlite3_column_int(st, 2));
	return rc < 0 ? -1 : 0;
}
