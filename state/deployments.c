/* deployments.c: the deployments and services tables, the desired state
 * zlapply was last asked for (which deployments exist, where they came from,
 * each service's type, replica count and spec hash).
 *
 * Like replicas, an upsert of an identical row writes nothing; the timestamp
 * columns alone never count as a change. */
#include "state/state-internal.h"

#include <string.h>

static const char sql_deployment_upsert[] =
	"INSERT INTO deployments (name, source, created_at, updated_at) VALUES (?1, ?2, ?3, ?3) "
	"ON CONFLICT (name) DO UPDATE SET source = excluded.source, "
	"updated_at = excluded.updated_at WHERE source IS NOT excluded.source";
/* The trigger deployments_delete_services removes the services too. */
static const char sql_deployment_delete[] = "DELETE FROM deployments WHERE name = ?1";
static const char sql_deployment_source[] = "SELECT source FROM deployments WHERE name = ?1";
static const char sql_deployments_list[] = "SELECT name FROM deployments ORDER BY name";

#define SERVICE_COLUMNS "deployment, name, rtype, desired_replicas, spec_hash"
static const char sql_services_load_all[] =
	"SELECT " SERVICE_COLUMNS " FROM services ORDER BY deployment, name";
static const char sql_services_load_deployment[] =
	"SELECT " SERVICE_COLUMNS " FROM services WHERE deployment = ?1 ORDER BY deployment, name";
static const char sql_service_upsert[] =
	"INSERT INTO services (" SERVICE_COLUMNS ", updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
	"ON CONFLICT (deployment, name) DO UPDATE SET rtype = excluded.rtype, "
	"desired_replicas = excluded.desired_replicas, spec_hash = excluded.spec_hash, "
	"updated_at = excluded.updated_at "
	"WHERE rtype IS NOT excluded.rtype OR desired_replicas IS NOT excluded.desired_replicas "
	"OR spec_hash IS NOT excluded.spec_hash";
static const char sql_service_delete[] = "DELETE FROM services WHERE deployment = ?1 AND name = ?2";

void state_names_free(char **names, size_t count)
{
	if (!names)
		return;
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

void state_services_free(struct state_services *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++) {
		free(list->items[i].deployment);
		free(list->items[i].name);
		free(list->items[i].rtype);
		free(list->items[i].spec_hash);
	}
	free(list->items);
	list->items = NULL;
	list->count = list->cap = 0;
}

int state_deployment_upsert(struct state_db *db, const char *name, const char *source,
			    int64_t now_ms, struct zl_err *err)
{
	if (!name)
		return zl_invalid(err, "state: deployment upsert needs a name");
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		state_stmt(db, STMT_DEPLOYMENT_UPSERT, sql_deployment_upsert, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, name);
	state_bind_text(st, 2, source);
	sqlite3_bind_int64(st, 3, now_ms);
	return state_step_done(db, st, err, "save deployment %s", name);
}

int state_deployment_delete(struct state_db *db, const char *name, struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		state_stmt(db, STMT_DEPLOYMENT_DELETE, sql_deployment_delete, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, name);
	return state_step_done(db, st, err, "delete deployment %s", name);
}

int state_deployment_source(struct state_db *db, const char *name, char **source,
			    struct zl_err *err)
{
	*source = NULL;
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		state_stmt(db, STMT_DEPLOYMENT_SOURCE, sql_deployment_source, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, name);
	int rc = state_step_row(db, st, err, "load deployment %s", name);
	if (rc > 0)
		*source = state_column_strdup(st, 0);
	return rc < 0 ? -1 : 0;
}

int state_deployments_list(struct state_db *db, char ***names, size_t *count, struct zl_err *err)
{
	*names = NULL;
	*count = 0;
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		state_stmt(db, STMT_DEPLOYMENTS_LIST, sql_deployments_list, err);
	if (!st)
		return -1;
	size_t cap = 0;
	int rc;
	while ((rc = state_step_row(db, st, err, "list deployments")) > 0) {
		zl_grow(names, sizeof(**names), &cap, *count + 1);
		(*names)[(*count)++] = state_column_strdup(st, 0);
	}
	if (rc < 0) {
		state_names_free(*names, *count);
		*names = NULL;
		*count = 0;
		return -1;
	}
	return 0;
}

int state_services_load(struct state_db *db, const char *deployment, struct state_services *out,
			struct zl_err *err)
{
	*out = (struct state_services){ 0 };
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		deployment ? state_stmt(db, STMT_SERVICES_LOAD_DEPLOYMENT,
					sql_services_load_deployment, err)
			   : state_stmt(db, STMT_SERVICES_LOAD_ALL, sql_services_load_all, err);
	if (!st)
		return -1;
	if (deployment)
		state_bind_text(st, 1, deployment);
	int rc;
	while ((rc = state_step_row(db, st, err, "load services")) > 0) {
		zl_grow(&out->items, sizeof(out->items[0]), &out->cap, out->count + 1);
		struct state_service *s = &out->items[out->count++];
		s->deployment = state_column_strdup(st, 0);
		s->name = state_column_strdup(st, 1);
		s->rtype = state_column_strdup(st, 2);
		s->desired_replicas = sqlite3_column_int(st, 3);
		s->spec_hash = state_column_strdup(st, 4);
	}
	if (rc < 0) {
		state_services_free(out);
		return -1;
	}
	return 0;
}

int state_service_upsert(struct state_db *db, const struct state_service *s, int64_t now_ms,
			 struct zl_err *err)
{
	if (!s->deployment || !s->name)
		return zl_invalid(err, "state: service upsert needs a deployment and a name");
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		state_stmt(db, STMT_SERVICE_UPSERT, sql_service_upsert, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, s->deployment);
	state_bind_text(st, 2, s->name);
	state_bind_text(st, 3, s->rtype);
	sqlite3_bind_int(st, 4, s->desired_replicas);
	state_bind_text(st, 5, s->spec_hash);
	sqlite3_bind_int64(st, 6, now_ms);
	return state_step_done(db, st, err, "save service %s/%s", s->deployment, s->name);
}

int state_service_delete(struct state_db *db, const char *deployment, const char *name,
			 struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st =
		state_stmt(db, STMT_SERVICE_DELETE, sql_service_delete, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	state_bind_text(st, 2, name);
	return state_step_done(db, st, err, "delete service %s/%s", deployment, name);
}
