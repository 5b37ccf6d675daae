/* leases.c: IP address leases, one per replica. The address is the primary
 * key, so two replicas can never share one; leases are written in the same
 * transaction as the replica row they belong to, so a crash cannot leak one
 * (and state_leases_reclaim() collects any whose row is gone). */
#include "state/state-internal.h"

#include <string.h>

static int step_done(struct state_db *db, sqlite3_stmt *st, const char *what, struct zl_err *err)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		state_sql_fail(db, err, "%s", what);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

int state_lease_get(struct state_db *db, const char *deployment, const char *service, int index,
		    char **ip, struct zl_err *err)
{
	*ip = NULL;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db->sql,
			       "SELECT ip FROM leases WHERE deployment = ?1 AND service = ?2 AND idx = ?3",
			       -1, &st, NULL) != SQLITE_OK)
		return state_sql_fail(db, err, "load lease");
	state_bind_text(st, 1, deployment);
	state_bind_text(st, 2, service);
	sqlite3_bind_int(st, 3, index);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ip = state_column_strdup(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return state_sql_fail(db, err, "load lease");
	return 0;
}

int state_leases_ips(struct state_db *db, char ***ips, size_t *count, struct zl_err *err)
{
	*ips = NULL;
	*count = 0;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db->sql, "SELECT ip FROM leases ORDER BY ip", -1, &st, NULL) != SQLITE_OK)
		return state_sql_fail(db, err, "load leases");
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		zl_grow(ips, sizeof(**ips), &cap, *count + 1);
		(*ips)[(*count)++] = state_column_strdup(st, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		state_names_free(*ips, *count);
		*ips = NULL;
		*count = 0;
		return state_sql_fail(db, err, "load leases");
	}
	return 0;
}

int state_lease_put(struct state_db *db, const char *ip, const char *deployment,
		    const char *service, int index, int64_t now_ms, struct zl_err *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db->sql,
			       "INSERT INTO leases (ip, deployment, service, idx, created_at) "
			       "VALUES (?1, ?2, ?3, ?4, ?5)",
			       -1, &st, NULL) != SQLITE_OK)
		return state_sql_fail(db, err, "lease %s", ip);
	state_bind_text(st, 1, ip);
	state_bind_text(st, 2, deployment);
	state_bind_text(st, 3, service);
	sqlite3_bind_int(st, 4, index);
	sqlite3_bind_int64(st, 5, now_ms);
	return step_done(db, st, "lease address", err);
}

int state_lease_delete(struct state_db *db, const char *deployment, const char *service,
		       int index, struct zl_err *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db->sql,
			       "DELETE FROM leases WHERE deployment = ?1 AND service = ?2 AND idx = ?3",
			       -1, &st, NULL) != SQLITE_OK)
		return state_sql_fail(db, err, "release lease");
	state_bind_text(st, 1, deployment);
	state_bind_text(st, 2, service);
	sqlite3_bind_int(st, 3, index);
	return step_done(db, st, "release lease", err);
}

int state_leases_reclaim(struct state_db *db, size_t *reclaimed, struct zl_err *err)
{
	*reclaimed = 0;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db->sql,
			       "DELETE FROM leases WHERE NOT EXISTS (SELECT 1 FROM replicas r "
			       "WHERE r.deployment = leases.deployment AND r.service = leases.service "
			       "AND r.idx = leases.idx)",
			       -1, &st, NULL) != SQLITE_OK)
		return state_sql_fail(db, err, "reclaim leases");
	if (step_done(db, st, "reclaim leases", err) < 0)
		return -1;
	*reclaimed = (size_t)sqlite3_changes(db->sql);
	return 0;
}
