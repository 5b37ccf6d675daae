/* leases.c: IP address leases, one per replica. The address is the primary
 * key, so two replicas can never share one; leases are written in the same
 * transaction as the replica row they belong to, so a crash cannot leak one
 * (and state_leases_reclaim() collects any whose row is gone). */
#include "state/state-internal.h"

#include <string.h>

static const char sql_get[] =
	"SELECT ip FROM leases WHERE deployment = ?1 AND service = ?2 AND idx = ?3";
static const char sql_ips[] = "SELECT ip FROM leases ORDER BY ip";
static const char sql_put[] =
	"INSERT INTO leases (ip, deployment, service, idx, created_at) VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_delete[] =
	"DELETE FROM leases WHERE deployment = ?1 AND service = ?2 AND idx = ?3";
static const char sql_reclaim[] =
	"DELETE FROM leases WHERE NOT EXISTS (SELECT 1 FROM replicas r "
	"WHERE r.deployment = leases.deployment AND r.service = leases.service "
	"AND r.idx = leases.idx)";

int state_lease_get(struct state_db *db, const char *deployment, const char *service, int index,
		    char **ip, struct zl_err *err)
{
	*ip = NULL;
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_LEASE_GET, sql_get, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	state_bind_text(st, 2, service);
	sqlite3_bind_int(st, 3, index);
	int rc = state_step_row(db, st, err, "load lease");
	if (rc > 0)
		*ip = state_column_strdup(st, 0);
	return rc < 0 ? -1 : 0;
}

int state_leases_ips(struct state_db *db, char ***ips, size_t *count, struct zl_err *err)
{
	*ips = NULL;
	*count = 0;
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_LEASES_IPS, sql_ips, err);
	if (!st)
		return -1;
	size_t cap = 0;
	int rc;
	while ((rc = state_step_row(db, st, err, "load leases")) > 0) {
		zl_grow(ips, sizeof(**ips), &cap, *count + 1);
		(*ips)[(*count)++] = state_column_strdup(st, 0);
	}
	if (rc < 0) {
		state_names_free(*ips, *count);
		*ips = NULL;
		*count = 0;
		return -1;
	}
	return 0;
}

int state_lease_put(struct state_db *db, const char *ip, const char *deployment,
		    const char *service, int index, int64_t now_ms, struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_LEASE_PUT, sql_put, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, ip);
	state_bind_text(st, 2, deployment);
	state_bind_text(st, 3, service);
	sqlite3_bind_int(st, 4, index);
	sqlite3_bind_int64(st, 5, now_ms);
	return state_step_done(db, st, err, "lease address");
}

int state_lease_delete(struct state_db *db, const char *deployment, const char *service,
		       int index, struct zl_err *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_LEASE_DELETE, sql_delete, err);
	if (!st)
		return -1;
	state_bind_text(st, 1, deployment);
	state_bind_text(st, 2, service);
	sqlite3_bind_int(st, 3, index);
	return state_step_done(db, st, err, "release lease");
}

int state_leases_reclaim(struct state_db *db, size_t *reclaimed, struct zl_err *err)
{
	*reclaimed = 0;
	_cleanup_stmt_reset_ sqlite3_stmt *st = state_stmt(db, STMT_LEASES_RECLAIM, sql_reclaim, err);
	if (!st)
		return -1;
	if (state_step_done(db, st, err, "reclaim leases") < 0)
		return -1;
	*reclaimed = (size_t)sqlite3_changes(db->sql);
	return 0;
}
