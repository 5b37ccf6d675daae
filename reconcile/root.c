/* root.c: what a state root knows about itself, checked when a run opens
 * it (before anything is planned):
 *   - its identity: <root>/root-id (common/owner.c, carried by the claims
 *     on the host-wide names its replicas use) and the same id in the
 *     database's meta table. A database copied from another root carries
 *     that root's id and is refused; a root-id file that was lost is
 *     written again from the database.
 *   - its network: the bridge and subnet its replicas' addresses are leased
 *     on are stored in the database. A run without --bridge/--subnet uses
 *     them; a run that names others while addresses are leased is refused
 *     with the reason (its replicas would be left on the old network, or
 *     new ones get addresses another network already uses), never ignored;
 *     with no address leased the new ones are stored. */
#include "reconcile-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int check_identity(struct state_db *db, const char *root, bool write, struct zl_err *err)
{
	char *recorded = NULL;
	if (state_meta_get(db, "root_id", &recorded, err) < 0)
		return -1;
	_cleanup_free_ char *id = recorded;
	struct zl_owner me;
	struct zl_err none = ZL_ERR_INIT;
	bool have_file = zl_owner_of_root(root, false, &me, &none) == 0;
	if (id && !have_file) {
		if (!write)
			return 0;
		/* The file went missing: the database remembers who this is. */
		if (zl_owner_set_id(root, id, &me, err) < 0)
			return -1;
		return 0;
	}
	if (!have_file) {
		if (!write)
			return 0;
		if (zl_owner_of_root(root, true, &me, err) < 0)
			return -1;
	}
	if (!id)
		return write ? state_meta_put(db, "root_id", me.id, err) : 0;
	if (strcmp(id, me.id) != 0)
		return zl_err_set(err, ZL_ERR_INPUT, 0,
				  "%s/state.db belongs to another state root (its id %s, this root's %s): it was copied from elsewhere; move it aside and let the next apply adopt this root's replicas (docs/operations.md, \"Lost or corrupt state\")",
				  me.root, id, me.id);
	return 0;
}

static int leased_any(struct state_db *db, bool *any, struct zl_err *err)
{
	char **ips = NULL;
	size_t n = 0;
	if (state_leases_ips(db, &ips, &n, err) < 0)
		return -1;
	state_names_free(ips, n);
	*any = n > 0;
	return 0;
}

int root_open_read(const char *root, struct state_db **db, struct zl_err *err)
{
	struct zl_err oerr = ZL_ERR_INIT;
	*db = NULL;
	if (state_open(root, true, db, &oerr) == 0)
		return 0;
	if (oerr.sys_errno == ENOENT)
		return 1;
	*err = oerr;
	return -1;
}

int root_open_state(const char *root, bool repair, struct state_db **db, struct zl_err *err)
{
	if (state_open(root, false, db, err) == 0)
		return 0;
	if (err->sys_errno != STATE_CORRUPT_ERRNO)
		return -1;
	if (!repair) {
		struct zl_err why = *err;
		return zl_err_set(err, ZL_ERR_FAIL, 0,
				  "%s; the way out: move it aside (mv %s/state.db %s/state.db.corrupt) and apply again: the replicas still running are adopted from the backends' records (zlapply delete and zlapply doctor do that by themselves)",
				  why.msg, root, root);
	}
	/* delete and doctor must work on: keep the corrupt copy for a look,
	 * start a new database and adopt what the backends hold. */
	char stamp[32];
	snprintf(stamp, sizeof(stamp), "%lld", (long long)zl_now_ms());
	const char *suffixes[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < 3; i++) {
		_cleanup_free_ char *from = zl_xasprintf("%s/state.db%s", root, suffixes[i]);
		_cleanup_free_ char *to = zl_xasprintf("%s/state.db.corrupt-%s%s", root, stamp, suffixes[i]);
		if (rename(from, to) < 0 && errno != ENOENT)
			return zl_fail_errno(err, "move the corrupt %s aside", from);
	}
	zl_log(ZL_LOG_WARN, "%s/state.db was corrupt: moved aside as state.db.corrupt-%s; a new one adopts the replicas the backends hold",
	       root, stamp);
	zl_err_clear(err);
	return state_open(root, false, db, err);
}

int root_settle(struct state_db *db, const struct reconcile_opts *opts, bool write,
		struct root_network *net, struct zl_err *err)
{
	memset(net, 0, sizeof(*net));
	if (reconcile_subnet(opts, &net->subnet, err) < 0)
		return -1;
	snprintf(net->bridge, sizeof(net->bridge), "%s",
		 opts->bridge && *opts->bridge ? opts->bridge : NET_DEFAULT_BRIDGE);
	if (!db)
		return 0; /* a dry run of a root that has no database yet */
	if (check_identity(db, opts->root, write, err) < 0)
		return -1;

	char *stored_bridge = NULL, *stored_subnet = NULL;
	if (state_meta_get(db, "bridge", &stored_bridge, err) < 0 ||
	    state_meta_get(db, "subnet", &stored_subnet, err) < 0) {
		free(stored_bridge);
		return -1;
	}
	_cleanup_free_ char *sb = stored_bridge, *ss = stored_subnet;
	struct net_subnet stored_net = { 0 };
	struct zl_err bad = ZL_ERR_INIT;
	if (ss && net_subnet_parse(ss, &stored_net, &bad) < 0)
		ss = (free(ss), NULL); /* unreadable: as if none was stored */
	bool given_bridge = opts->bridge && *opts->bridge;
	bool given_subnet = opts->subnet && *opts->subnet;
	/* Not given: what the root uses. */
	if (!given_bridge && sb)
		snprintf(net->bridge, sizeof(net->bridge), "%s", sb);
	if (!given_subnet && ss)
		net->subnet = stored_net;
	bool moved = (sb && strcmp(sb, net->bridge) != 0) ||
		     (ss && (stored_net.network != net->subnet.network ||
			     stored_net.prefix != net->subnet.prefix));
	char cidr[NET_CIDR_STRLEN];
	net_subnet_format(&net->subnet, cidr);
	if (moved) {
		bool any = false;
		if (leased_any(db, &any, err) < 0)
			return -1;
		if (any)
			return zl_err_set(err, ZL_ERR_INPUT, 0,
					  "this root's replicas have addresses on bridge %s (%s); --bridge %s --subnet %s would leave them there: delete its deployments first (zlapply delete -d NAME), or run without --bridge/--subnet",
					  sb ? sb : net->bridge, ss ? ss : cidr, net->bridge, cidr);
	}
	if (!write)
		return 0;
	if ((!sb || strcmp(sb, net->bridge) != 0) && state_meta_put(db, "bridge", net->bridge, err) < 0)
		return -1;
	if ((!ss || strcmp(ss, cidr) != 0) && state_meta_put(db, "subnet", cidr, err) < 0)
		return -1;
	return 0;
}

/* ---- the root's bridge, once nothing uses it ---- */

int root_bridge_unused(struct state_db *db, const char *root, struct root_network *net,
		       struct zl_err *err)
{
	char *bridge = NULL, *cidr = NULL;
	int ret = 0;
	memset(net, 0, sizeof(*net));
	if (state_meta_get(db, "bridge", &bridge, err) < 0 || state_meta_get(db, "subnet", &cidr, err) < 0) {
		ret = -1;
		goto out;
	}
	struct zl_err bad = ZL_ERR_INIT;
	if (!bridge || !cidr || net_subnet_parse(cidr, &net->subnet, &bad) < 0)
		goto out; /* never had one */
	snprintf(net->bridge, sizeof(net->bridge), "%s", bridge);
	bool exists = net_link_exists(bridge);
	if (exists && net_bridge_has_ports(bridge))
		goto out; /* a veth hangs on it */
	bool any = false;
	if (leased_any(db, &any, err) < 0) {
		ret = -1;
		goto out;
	}
	struct zl_owner me;
	struct zl_err none = ZL_ERR_INIT;
	if (any || zl_owner_of_root(root, false, &me, &none) < 0)
		goto out; /* this root still leases */
	int claim = zl_claim_is_ours("bridge", bridge, &me);
	/* Another live root holds it; or it is gone and so is our claim
	 * (gone with a claim left, say after a create that failed before
	 * making it, the claim still keeps other roots off the name). */
	if (claim == 0 || (!exists && claim < 0))
		goto out;
	ret = 1;
out:
	free(bridge);
	free(cidr);
	return ret;
}

int root_bridge_teardown(const char *root, const struct root_network *net, struct zl_err *err)
{
	if (net_bridge_has_ports(net->bridge))
		return zl_fail(err, "bridge %s has ports again: left alone", net->bridge);
	struct zl_owner me;
	struct zl_err none = ZL_ERR_INIT;
	if (zl_owner_of_root(root, false, &me, &none) == 0)
		(void)zl_claim_release("bridge", net->bridge, &me); /* none is fine */
	return net_bridge_teardown(net->bridge, &net->subnet, err);
}
