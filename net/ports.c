/* ports.c: published ports as iptables nat rules.
 *
 * Layout in the nat table (all created on demand, idempotently):
 *   PREROUTING, OUTPUT  -m addrtype --dst-type LOCAL -j ZLAPPLY-DNAT
 *   ZLAPPLY-DNAT        one jump per service: -m comment "zlapply:<dep>/<svc>" -j ZLP-<hash>
 *   ZLP-<hash>          that service's DNAT rules, one per (host ip, port, protocol)
 *                       and replica, shared out with `statistic --mode nth`
 *   POSTROUTING         -j ZLAPPLY-POSTROUTING
 *   ZLAPPLY-POSTROUTING -s 127.0.0.0/8 -o <bridge> -j MASQUERADE (loopback access)
 *
 * A service's chain is replaced in one `iptables-restore --noflush`
 * transaction: declaring the chain flushes it, and the new rules land in the
 * same commit, so a connection never sees half a rule set. The chain's name
 * hashes the caller's scope (the state root) with deployment and service,
 * so two state roots on one host never touch each other's chains.
 *
 * Every rule carries "zlapply:<deployment>/<service>", which is how
 * net_ports_list() (and `zlapply doctor`) finds them. */
#include "net-internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DNAT_CHAIN "ZLAPPLY-DNAT"
#define POST_CHAIN "ZLAPPLY-POSTROUTING"

const char *net_port_proto(const struct net_port *p)
{
	return p->udp ? "udp" : "tcp";
}

void net_ports_chain(const char *scope, const char *deployment, const char *service,
		     char out[NET_CHAIN_MAX])
{
	_cleanup_free_ char *key = zl_xasprintf("%s\n%s/%s", scope ? scope : "", deployment, service);
	char hex[65];
	zl_sha256_hex(key, strlen(key), hex);
	snprintf(out, NET_CHAIN_MAX, "ZLP-%.16s", hex);
}

static char *tag_of(const char *deployment, const char *service)
{
	return zl_xasprintf("zlapply:%s/%s", deployment, service);
}

char *net_ports_render(const char *scope, const char *deployment, const char *service,
		       const struct net_port *ports, size_t n, const char *const *replica_ips,
		       size_t n_ips)
{
	if (n == 0 || n_ips == 0)
		return zl_xstrdup("");
	char chain[NET_CHAIN_MAX];
	net_ports_chain(scope, deployment, service, chain);
	struct zl_buf b = { 0 };
	zl_buf_printf(&b, "*nat\n:%s - [0:0]\n", chain);
	for (size_t i = 0; i < n; i++) {
		const struct net_port *p = &ports[i];
		char dst[48] = "";
		if (p->host_ip) {
			char ip[NET_IPV4_STRLEN];
			net_ipv4_format(p->host_ip, ip);
			snprintf(dst, sizeof(dst), "-d %s/32 ", ip);
		}
		const char *proto = net_port_proto(p);
		/* Rule k takes every (n_ips - k)th new connection that reaches it;
		 * the last one takes the rest: round robin over the replicas. */
		for (size_t k = 0; k < n_ips; k++) {
			zl_buf_printf(&b, "-A %s %s-p %s -m %s --dport %d -m comment --comment \"zlapply:%s/%s\" ",
				      chain, dst, proto, proto, p->host_port, deployment, service);
			if (k + 1 < n_ips)
				zl_buf_printf(&b, "-m statistic --mode nth --every %zu --packet 0 ",
					      n_ips - k);
			zl_buf_printf(&b, "-j DNAT --to-destination %s:%d\n", replica_ips[k],
				      p->target_port);
		}
	}
	zl_buf_puts(&b, "COMMIT\n");
	return zl_buf_steal(&b);
}

static const char *restore_path(void)
{
	static const char *const candidates[] = { "/usr/sbin/iptables-restore",
						  "/sbin/iptables-restore",
						  "/usr/bin/iptables-restore" };
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
		if (access(candidates[i], X_OK) == 0)
			return candidates[i];
	return NULL;
}

/* iptables-restore -w --noflush with text on stdin. */
static int run_restore(const char *text, struct zl_err *err)
{
	const char *bin = restore_path();
	if (!bin)
		return zl_fail(err, "iptables-restore is not installed (scripts/setup installs iptables)");
	char tmpl[] = "/tmp/zlapply-rules-XXXXXX";
	int in = mkostemp(tmpl, O_CLOEXEC);
	if (in < 0)
		return zl_fail_errno(err, "temporary file for iptables-restore");
	unlink(tmpl);
	size_t len = strlen(text);
	if (write(in, text, len) != (ssize_t)len || lseek(in, 0, SEEK_SET) < 0) {
		close(in);
		return zl_fail_errno(err, "write rules for iptables-restore");
	}
	const char *argv[] = { bin, "-w", "--noflush", NULL };
	struct zl_buf out = { 0 };
	int status = 0;
	int ret = zl_run(argv, in, &out, &status, err);
	close(in);
	if (ret == 0 && status != 0) {
		if (out.data)
			out.data[strcspn(out.data, "\n")] = '\0';
		ret = zl_fail(err, "iptables-restore: exit %d: %s", status, out.data ? out.data : "");
	}
	zl_buf_free(&out);
	return ret;
}

/* Runs iptables args; a non-zero exit is an error carrying its output. */
static int iptables_ok(const char *const *args, struct zl_err *err)
{
	int status = 0;
	struct zl_buf out = { 0 };
	if (net_iptables(args, &status, &out, err) < 0) {
		zl_buf_free(&out);
		return -1;
	}
	int ret = 0;
	if (status != 0) {
		if (out.data)
			out.data[strcspn(out.data, "\n")] = '\0';
		struct zl_buf cmd = { 0 };
		for (size_t i = 0; args[i]; i++)
			zl_buf_printf(&cmd, "%s%s", i ? " " : "", args[i]);
		ret = zl_fail(err, "iptables %s: exit %d: %s", cmd.data, status,
			      out.data ? out.data : "");
		zl_buf_free(&cmd);
	}
	zl_buf_free(&out);
	return ret;
}

/* Creates a user chain unless it exists. */
static int chain_ensure(const char *table, const char *chain, struct zl_err *err)
{
	const char *list[] = { "-t", table, "-S", chain, NULL };
	int status = 0;
	if (net_iptables(list, &status, NULL, err) < 0)
		return -1;
	if (status == 0)
		return 0;
	const char *create[] = { "-t", table, "-N", chain, NULL };
	return iptables_ok(create, err);
}

static int write_sysctl(const char *path, const char *value, struct zl_err *err)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return zl_fail_errno(err, "open %s", path);
	ssize_t w = write(fd, value, strlen(value));
	int saved = errno;
	close(fd);
	if (w < 0) {
		errno = saved;
		return zl_fail_errno(err, "write %s", path);
	}
	return 0;
}

/* The chains and jumps every service's rules hang off, and what loopback
 * access through bridge needs. Done once per bridge per process: a run that
 * changes no port never gets here. */
void net_bridge_rules(const char *bridge, struct net_bridge_rule out[NET_BRIDGE_RULES])
{
	/* 127.0.0.1 -> replica needs a source the replica can answer. */
	out[0] = (struct net_bridge_rule){ "nat", POST_CHAIN,
		{ "-s", "127.0.0.0/8", "-o", bridge, "-m", "comment", "--comment", "zlapply", "-j",
		  "MASQUERADE", NULL } };
	/* Published ports must reach the replicas also where FORWARD drops by
	 * default (hosts with docker): DNATed connections and their replies. */
	out[1] = (struct net_bridge_rule){ "filter", "FORWARD",
		{ "-o", bridge, "-m", "conntrack", "--ctstate", "DNAT", "-m", "comment", "--comment",
		  "zlapply", "-j", "ACCEPT", NULL } };
	out[2] = (struct net_bridge_rule){ "filter", "FORWARD",
		{ "-i", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-m", "comment",
		  "--comment", "zlapply", "-j", "ACCEPT", NULL } };
}

static int base_ensure(const char *bridge, struct zl_err *err)
{
	static char done_for[NET_IFNAME_MAX + 1];
	if (done_for[0] && strcmp(done_for, bridge) == 0)
		return 0;
	static const char *const local[] = { "-m", "addrtype", "--dst-type", "LOCAL", "-m",
					     "comment", "--comment", "zlapply", "-j", DNAT_CHAIN,
					     NULL };
	static const char *const post[] = { "-m", "comment", "--comment", "zlapply", "-j",
					    POST_CHAIN, NULL };
	struct net_bridge_rule rules[NET_BRIDGE_RULES];
	net_bridge_rules(bridge, rules);
	if (chain_ensure("nat", DNAT_CHAIN, err) < 0 || chain_ensure("nat", POST_CHAIN, err) < 0 ||
	    net_rule_ensure("nat", "PREROUTING", local, err) < 0 ||
	    net_rule_ensure("nat", "OUTPUT", local, err) < 0 ||
	    net_rule_ensure("nat", "POSTROUTING", post, err) < 0)
		return zl_err_prefix(err, "published ports: base rules");
	for (size_t i = 0; i < NET_BRIDGE_RULES; i++)
		if (net_rule_ensure(rules[i].table, rules[i].chain, rules[i].args, err) < 0)
			return zl_err_prefix(err, "published ports: base rules");
	/* 127.0.0.1 -> replica: the kernel drops loopback sources on other
	 * interfaces unless route_localnet is on for the outgoing one. */
	_cleanup_free_ char *sysctl =
		zl_xasprintf("/proc/sys/net/ipv4/conf/%s/route_localnet", bridge);
	if (write_sysctl(sysctl, "1", err) < 0)
		return zl_err_prefix(err, "published ports: loopback access via bridge %s", bridge);
	snprintf(done_for, sizeof(done_for), "%s", bridge);
	return 0;
}

int net_ports_sync(const char *scope, const char *deployment, const char *service,
		   const struct net_port *ports, size_t n, const char *const *replica_ips,
		   size_t n_ips, const char *bridge, struct zl_err *err)
{
	if (n == 0 || n_ips == 0)
		return net_ports_remove(scope, deployment, service, err);
	char chain[NET_CHAIN_MAX];
	net_ports_chain(scope, deployment, service, chain);
	_cleanup_free_ char *tag = tag_of(deployment, service);
	_cleanup_free_ char *text =
		net_ports_render(scope, deployment, service, ports, n, replica_ips, n_ips);
	const char *jump[] = { "-m", "comment", "--comment", tag, "-j", chain, NULL };
	if (base_ensure(bridge ? bridge : NET_DEFAULT_BRIDGE, err) < 0 || run_restore(text, err) < 0 ||
	    net_rule_ensure("nat", DNAT_CHAIN, jump, err) < 0)
		return zl_err_prefix(err, "publish ports of %s/%s", deployment, service);
	return 0;
}

int net_ports_remove(const char *scope, const char *deployment, const char *service,
		     struct zl_err *err)
{
	char chain[NET_CHAIN_MAX];
	net_ports_chain(scope, deployment, service, chain);
	_cleanup_free_ char *tag = tag_of(deployment, service);
	int status = 0;
	/* Every jump first (normally one), then the chain itself. Missing
	 * pieces are success: this runs on remove and on recovery. */
	const char *del[] = { "-t", "nat", "-D", DNAT_CHAIN, "-m", "comment", "--comment", tag,
			      "-j", chain, NULL };
	for (int i = 0; i < 16; i++) {
		if (net_iptables(del, &status, NULL, err) < 0)
			goto fail;
		if (status != 0)
			break;
	}
	const char *flush[] = { "-t", "nat", "-F", chain, NULL };
	if (net_iptables(flush, &status, NULL, err) < 0)
		goto fail;
	if (status == 0) {
		const char *drop[] = { "-t", "nat", "-X", chain, NULL };
		if (iptables_ok(drop, err) < 0)
			goto fail;
	}
	return 0;
fail:
	return zl_err_prefix(err, "remove published ports of %s/%s", deployment, service);
}

/* Parses `--comment "zlapply:D/S"` (quoted or not) out of an -S line. */
static bool parse_tag(const char *line, char **dep, char **svc)
{
	const char *c = strstr(line, "--comment ");
	if (!c)
		return false;
	c += strlen("--comment ");
	if (*c == '"')
		c++;
	if (strncmp(c, "zlapply:", 8) != 0)
		return false;
	c += 8;
	size_t len = strcspn(c, "\" ");
	const char *slash = memchr(c, '/', len);
	if (!slash || slash == c || slash == c + len - 1)
		return false;
	*dep = zl_xstrndup(c, (size_t)(slash - c));
	*svc = zl_xstrndup(slash + 1, len - (size_t)(slash - c) - 1);
	return true;
}

static char *word_after(const char *line, const char *flag)
{
	const char *p = strstr(line, flag);
	if (!p)
		return NULL;
	p += strlen(flag);
	return zl_xstrndup(p, strcspn(p, " \n"));
}

void net_ports_owners_free(struct net_ports_owner *o, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(o[i].deployment);
		free(o[i].service);
		free(o[i].chain);
	}
	free(o);
}

int net_ports_list(struct net_ports_owner **out, size_t *count, struct zl_err *err)
{
	*out = NULL;
	*count = 0;
	const char *args[] = { "-t", "nat", "-S", NULL };
	int status = 0;
	struct zl_buf text = { 0 };
	if (net_iptables(args, &status, &text, err) < 0)
		return -1;
	if (status != 0) {
		zl_buf_free(&text);
		return zl_fail(err, "iptables -t nat -S: exit %d", status);
	}
	size_t cap = 0;
	for (char *line = text.data; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *dep = NULL, *svc = NULL;
		_cleanup_free_ char *chain = word_after(line, "-A ");
		_cleanup_free_ char *target = word_after(line, " -j ");
		if (chain && strncmp(line, "-A ", 3) == 0 && parse_tag(line, &dep, &svc)) {
			const char *svc_chain = strcmp(chain, DNAT_CHAIN) == 0 ? target : chain;
			bool seen = !svc_chain || strncmp(svc_chain, "ZLP-", 4) != 0;
			for (size_t i = 0; !seen && i < *count; i++)
				seen = strcmp((*out)[i].chain, svc_chain) == 0;
			if (!seen) {
				zl_grow(out, sizeof(**out), &cap, *count + 1);
				(*out)[(*count)++] = (struct net_ports_owner){
					.deployment = dep, .service = svc, .chain = zl_xstrdup(svc_chain)
				};
				dep = svc = NULL;
			}
		}
		free(dep);
		free(svc);
		line = nl ? nl + 1 : NULL;
	}
	zl_buf_free(&text);
	return 0;
}

/* ---- is a port free? ---- */

/* The inode of a socket bound to port (any address) in /proc/net/FILE,
 * LISTEN for tcp; 0 when none. */
static unsigned long socket_inode(const char *file, int port, bool udp)
{
	_cleanup_free_ char *path = zl_xasprintf("/proc/net/%s", file);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	char line[512];
	if (!fgets(line, sizeof(line), f))
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char local[64];
		unsigned st;
		unsigned long inode;
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, "%*s %63s %*s %x %*s %*s %*s %*s %*s %lu", local, &st, &inode) != 3)
			continue;
		char *colon = strrchr(local, ':');
		if (!colon || (int)strtoul(colon + 1, NULL, 16) != port)
			continue;
		if ((udp || st == 0x0A) && inode != 0)
			return inode;
	}
	return 0;
}

/* The pid holding socket inode (a scan of /proc/<pid>/fd); 0 when unknown. */
static pid_t socket_owner(unsigned long inode, char comm[64])
{
	char want[64];
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	DIR *proc = opendir("/proc");
	if (!proc)
		return 0;
	pid_t found = 0;
	struct dirent *de;
	while (!found && (de = readdir(proc))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		char fddir[64];
		snprintf(fddir, sizeof(fddir), "/proc/%ld/fd", pid);
		DIR *fds = opendir(fddir);
		if (!fds)
			continue;
		struct dirent *fe;
		while ((fe = readdir(fds))) {
			char link[PATH_MAX], target[128];
			snprintf(link, sizeof(link), "%s/%s", fddir, fe->d_name);
			ssize_t n = readlink(link, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			if (strcmp(target, want) == 0) {
				found = (pid_t)pid;
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	comm[0] = '\0';
	if (found) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)found);
		FILE *f = fopen(path, "re");
		if (f) {
			if (fgets(comm, 64, f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
	}
	return found;
}

/* Binds a socket to host_ip:port; returns the fd, or -1 with errno. */
static int bind_probe(uint32_t host_ip, int port, bool udp)
{
	int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	/* TIME_WAIT leftovers do not make a port taken; listeners still do. */
	if (!udp)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(host_ip) };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int net_port_check_free(uint32_t host_ip, int port, bool udp, struct zl_err *err)
{
	char ip[NET_IPV4_STRLEN];
	net_ipv4_format(host_ip, ip);
	const char *proto = udp ? "udp" : "tcp";
	if (port < 1 || port > 65535)
		return zl_invalid(err, "port %d/%s on %s: expected 1..65535", port, proto, ip);
	int fd = bind_probe(host_ip, port, udp);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EADDRNOTAVAIL)
		return zl_invalid(err, "port %d/%s: %s is not an address of this host", port, proto, ip);
	if (errno != EADDRINUSE)
		return zl_fail_errno(err, "port %d/%s on %s: bind", port, proto, ip);
	unsigned long inode = socket_inode(udp ? "udp" : "tcp", port, udp);
	if (!inode)
		inode = socket_inode(udp ? "udp6" : "tcp6", port, udp);
	char comm[64] = "";
	pid_t pid = inode ? socket_owner(inode, comm) : 0;
	if (pid > 0)
		return zl_fail(err, "port %d/%s on %s is already in use (by pid %d, %s)", port, proto,
			       ip, (int)pid, comm[0] ? comm : "?");
	return zl_fail(err, "port %d/%s on %s is already in use", port, proto, ip);
}

int net_port_pick_ephemeral(uint32_t host_ip, bool udp, int *port, struct zl_err *err)
{
	char ip[NET_IPV4_STRLEN];
	net_ipv4_format(host_ip, ip);
	int fd = bind_probe(host_ip, 0, udp);
	if (fd < 0)
		return zl_fail_errno(err, "pick a free %s port on %s", udp ? "udp" : "tcp", ip);
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int r = getsockname(fd, (struct sockaddr *)&sa, &len);
	int saved = errno;
	close(fd);
	if (r < 0) {
		errno = saved;
		return zl_fail_errno(err, "pick a free port: getsockname");
	}
	*port = ntohs(sa.sin_port);
	return 0;
}
