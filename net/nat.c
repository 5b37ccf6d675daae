/* nat.c: the iptables rules zlapply needs: masquerading for the bridge's
 * subnet so replicas reach what the host reaches. Rules are checked before
 * they are added (-C), so this is idempotent, and every rule carries the
 * comment "zlapply" so `doctor` can find them. iptables is run as a command:
 * it is only touched when a bridge is first set up in a run, never on the
 * no-op path. */
#include "net-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/wait.h>

static const char *iptables_path(void)
{
	static const char *const candidates[] = { "/usr/sbin/iptables", "/sbin/iptables",
						  "/usr/bin/iptables" };
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
		if (access(candidates[i], X_OK) == 0)
			return candidates[i];
	return NULL;
}

/* Runs iptables with argv (argv[0] ignored); *status gets the exit code. */
int net_iptables(const char *const *args, int *status, struct zl_buf *out, struct zl_err *err)
{
	const char *bin = iptables_path();
	if (!bin)
		return zl_fail(err, "iptables is not installed (scripts/setup installs it)");
	size_t n = 0;
	while (args[n])
		n++;
	const char **argv = zl_xcalloc(n + 3, sizeof(char *));
	argv[0] = bin;
	argv[1] = "-w"; /* wait for the xtables lock instead of failing */
	for (size_t i = 0; i < n; i++)
		argv[2 + i] = args[i];
	int r = zl_run(argv, -1, out, status, err);
	free(argv);
	return r;
}

/* Check and add are two iptables runs: two zlapply processes (the workers
 * of a parallel apply, two roots setting up their bridges) could both find
 * a rule missing and both add it. One host-wide lock makes the pair atomic;
 * it lives beside the ownership claims, on /run. -1 with err when it
 * cannot be had; the caller closes the returned descriptor. */
#define RULES_LOCK_DIR "/run/zlapply"
#define RULES_LOCK RULES_LOCK_DIR "/iptables.lock"
static int rules_lock(struct zl_err *err)
{
	if (zl_mkdir_p(RULES_LOCK_DIR, 0755, err) < 0)
		return -1;
	int fd = open(RULES_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return zl_fail_errno(err, "open %s", RULES_LOCK);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			close(fd);
			return zl_fail_errno(err, "lock %s", RULES_LOCK);
		}
	}
	return fd;
}

/* net_rule_ensure() under the rules lock. */
static int rule_ensure_locked(const char *table, const char *chain, const char *const *rule,
			      struct zl_err *err)
{
	const char *argv[32];
	size_t n = 0;
	argv[n++] = "-t";
	argv[n++] = table;
	argv[n++] = "-C";
	argv[n++] = chain;
	for (size_t i = 0; rule[i] && n < 30; i++)
		argv[n++] = rule[i];
	argv[n] = NULL;
	int status = 0;
	struct zl_buf out = { 0 };
	if (net_iptables(argv, &status, NULL, err) < 0)
		return -1;
	if (status == 0)
		return 0; /* already there */
	argv[2] = "-A";
	if (net_iptables(argv, &status, &out, err) < 0) {
		zl_buf_free(&out);
		return -1;
	}
	int ret = 0;
	if (status != 0)
		ret = zl_fail(err, "iptables -t %s -A %s: exit %d: %s", table, chain, status,
			      out.data ? out.data : "");
	zl_buf_free(&out);
	return ret;
}

/* Adds the rule args (after -t TABLE and -A/-C CHAIN) unless it exists. */
int net_rule_ensure(const char *table, const char *chain, const char *const *rule,
		    struct zl_err *err)
{
	int lock = rules_lock(err);
	if (lock < 0)
		return -1;
	int r = rule_ensure_locked(table, chain, rule, err);
	close(lock); /* and with it the lock */
	return r;
}

int net_masquerade_ensure(const char *bridge, const struct net_subnet *s, struct zl_err *err)
{
	char cidr[NET_CIDR_STRLEN];
	net_subnet_format(s, cidr);
	const char *rule[] = { "-s", cidr, "!", "-o", bridge, "-m", "comment", "--comment",
			       "zlapply", "-j", "MASQUERADE", NULL };
	return net_rule_ensure("nat", "POSTROUTING", rule, err);
}

/* Deletes every copy of a rule (after -t TABLE and -D CHAIN); none is fine. */
static int rule_delete_all(const char *table, const char *chain, const char *const *rule,
			   struct zl_err *err)
{
	const char *argv[32];
	size_t n = 0;
	argv[n++] = "-t";
	argv[n++] = table;
	argv[n++] = "-D";
	argv[n++] = chain;
	for (size_t i = 0; rule[i] && n < 30; i++)
		argv[n++] = rule[i];
	argv[n] = NULL;
	/* Under the rules lock, so it cannot interleave with another
	 * process's check-and-add of the same rule. */
	int lock = rules_lock(err);
	if (lock < 0)
		return -1;
	int r = 0;
	for (int guard = 0; guard < 64; guard++) {
		int status = 0;
		if (net_iptables(argv, &status, NULL, err) < 0) {
			r = -1;
			break;
		}
		if (status != 0)
			break; /* no (more) such rule */
	}
	close(lock);
	return r;
}

bool net_bridge_has_ports(const char *bridge)
{
	_cleanup_free_ char *path = zl_xasprintf("/sys/class/net/%s/brif", bridge);
	DIR *d = opendir(path);
	if (!d)
		return false;
	bool any = false;
	struct dirent *e;
	while (!any && (e = readdir(d)))
		any = e->d_name[0] != '.';
	closedir(d);
	return any;
}

int net_bridge_teardown(const char *bridge, const struct net_subnet *s, struct zl_err *err)
{
	char cidr[NET_CIDR_STRLEN];
	net_subnet_format(s, cidr);
	const char *masq[] = { "-s", cidr, "!", "-o", bridge, "-m", "comment", "--comment",
			       "zlapply", "-j", "MASQUERADE", NULL };
	if (rule_delete_all("nat", "POSTROUTING", masq, err) < 0)
		return zl_err_prefix(err, "rules of bridge %s", bridge);
	struct net_bridge_rule rules[NET_BRIDGE_RULES];
	net_bridge_rules(bridge, rules);
	for (size_t i = 0; i < NET_BRIDGE_RULES; i++)
		if (rule_delete_all(rules[i].table, rules[i].chain, rules[i].args, err) < 0)
			return zl_err_prefix(err, "rules of bridge %s", bridge);
	if (net_link_exists(bridge) && net_bridge_delete(bridge, err) < 0)
		return -1;
	return 0;
}
