/* test_vm.c: VM-isolated replicas end to end (issue 13): the real zlapply
 * binary runs services with `isolation: vm`, each replica in a QEMU guest
 * (the oci backend prepares the bundle, zlvm runs it; the guest is Debian's
 * kernel and zlapply's initramfs with zlinit, from scripts/build-vm-guest),
 * beside real containers (runc/crun) on the same bridge, and each test
 * checks what a user sees: `status` (the BACKEND column, the `note: vm:
 * QEMU with ...` line) and `status -o json`, `logs` (and `logs -f`),
 * `exec`, `run`'s records, `delete`, `doctor`, and the processes (QEMU, the
 * zlvm shim), network namespaces, taps and bridges, cgroups, mounts,
 * leases, claims and zlvm state directories on the host.
 *
 * Inputs, built once per program into a temp dir: the example busybox image
 * (scripts/build-example-image). The guest (/usr/local/lib/zlapply/guest)
 * and QEMU come from scripts/setup: without them (or runc/crun, umoci)
 * every test FAILS saying to run it; without root every test is skipped.
 *
 * Every test has a state root of its own and a deployment name unique to
 * this run ("zv<pid>-<seq>"). Replicas get addresses on a bridge of this
 * program's own, zlv<N> with the subnet 10.216.<N>.0/24, N in 250..255 (the
 * first free one from 250 + pid%6): outside zlapply's default 10.213.0.0/16
 * and the 10.216.0-249 subnets of test_net, test_health, test_net_e2e and
 * test_wasm. zl0, /var/lib/zlapply and 10.213.0.0/16 are never touched; the
 * test connects only to addresses on its own bridge.
 *
 * Under TCG (no usable KVM) a guest boots to its command in 2.5-4 s, so each
 * test starts the VMs it needs in one apply, where they boot in parallel,
 * and waits up to VM_WAIT_MS for them.
 *
 * Teardown runs even when a test fails: it SIGKILLs what still runs,
 * deletes the deployment, then checks nothing of it is left (no process
 * naming the root, a zlvm state directory or one of its cgroups; no
 * cgroup, claim, mount, network namespace, zlvm state directory, lease or
 * replica directory; no bridge), cleans up by force whatever is and fails
 * the test.
 *
 * The cases (issue 13's list): a VM replica runs (status, backend, address,
 * logs, the TCG/KVM note); an exit code with both output streams; SIGTERM
 * within the grace and SIGKILL after it; exec (hostname, env, the guest's
 * kernel, exit codes, Docker's words for a command that cannot start);
 * reachable on its address from the host and from a container (and a
 * container from it); a restart policy's attempts; delete (of a running
 * VM, and of one just SIGKILLed with `zlapply kill`) leaves nothing; bad
 * input (memory above the host's, network_mode host or container:);
 * adoption (no-op apply, lost state.db); service names reaching a running
 * guest (a scale up and down).
 *
 * ZL_VM_TEST_SHOW_LOGS=1 prints each replica's vm.log, vm-console.log and
 * zlmon.log at teardown; ZL_KEEP_TMP=1 keeps the roots. */
#include "replica-helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#define WAIT_MS 20000     /* for what does not wait on a guest's boot */
#define VM_WAIT_MS 60000  /* a VM boots to its command (and exits) */
#define GUEST_DIR "/usr/local/lib/zlapply/guest"
#define ZLVM_RUN "/run/zlvm"

/* A service that says it is up, then runs (as a busybox shell) until
 * SIGTERM. */
#define UP_ARGS \
	"[\"/bin/sh\", \"-c\", \"echo hello from $HOSTNAME in a vm; trap 'exit 0' TERM; while true; do sleep 1 & wait; done\"]"

static struct {
	bool usable;
	char skip_why[256]; /* not root: skipped */
	char fail_why[512]; /* what scripts/setup provides is missing: failed */
	char dir[PATH_MAX];   /* /tmp/zlvmtest-g-XXXXXX */
	char image[PATH_MAX]; /* dir/img: the example busybox image */
	char bridge[16];      /* zlv<N> */
	char subnet[32];      /* 10.216.<N>.0/24 */
	char ip_prefix[32];   /* "10.216.<N>." */
	char ip_forward[16];
	char accel_note[512]; /* the note status must show, from `zlvm accel` */
	char guest_kernel[128];
	int seq;
} g;

/* ---- running zlapply ---- */

/* Text with @IMG@, @DEP@ and @DIR@ replaced; caller frees. */
static char *expand(const struct rh_test *t, const char *text)
{
	const struct rh_subst subst[] = { { "@IMG@", g.image }, { "@DEP@", t->dep },
					  { "@DIR@", t->tmp.dir } };
	return rh_expand(text, subst, sizeof(subst) / sizeof(subst[0]));
}

static char *apply_timed(const struct rh_test *t, const char *file, const char *services,
			 int want, char **err_out, int64_t *ms)
{
	return rh_apply(t, file, services, want, err_out, ms, true);
}

static char *apply_spec(const struct rh_test *t, const char *file, const char *services,
			int want, char **err_out)
{
	return rh_apply(t, file, services, want, err_out, NULL, true);
}

/* Polls status until svc-rep-index is in state with at least min_restarts
 * restarts (and a pid when running); fails after ms. */
static struct rh_replica wait_rep_ms(const struct rh_test *t, const char *svc, int index,
				     const char *state, int min_restarts, int64_t ms)
{
	return rh_wait_rep(t, svc, index, state, min_restarts, ms, 100);
}

static struct rh_replica wait_rep(const struct rh_test *t, const char *svc, int index,
				  const char *state, int min_restarts)
{
	return wait_rep_ms(t, svc, index, state, min_restarts, VM_WAIT_MS);
}

/* A running replica of the vm backend with a live pid and an address on
 * the test's subnet. */
static struct rh_replica running_vm(const struct rh_test *t, const char *svc, int index)
{
	struct rh_replica w = wait_rep(t, svc, index, "running", 0);
	if (!oci_test_pid_alive(w.r.pid))
		FAIL("expected %s-rep-%d's pid %lld to be alive (status says running): %s", svc, index,
		     w.r.pid, w.r.json);
	if (strcmp(w.backend, "vm") != 0 || strncmp(w.ip, g.ip_prefix, strlen(g.ip_prefix)) != 0)
		FAIL("expected %s-rep-%d on backend \"vm\" with an address in %s; status says: %s", svc,
		     index, g.subnet, w.r.json);
	return w;
}

/* The table's row of replica name split at blanks into fields (at most
 * max); 0 when there is no row. */
static int table_row(const char *table, const char *dep, const char *name, char fields[][64],
		     int max)
{
	for (const char *p = table; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, len), *save = NULL;
		int n = 0;
		for (char *f = strtok_r(line, " ", &save); f && n < max; f = strtok_r(NULL, " ", &save))
			snprintf(fields[n++], 64, "%s", f);
		free(line);
		if (n >= 2 && strcmp(fields[0], dep) == 0 && strcmp(fields[1], name) == 0)
			return n;
		p = nl ? nl + 1 : p + len;
	}
	return 0;
}

/* ---- logs ---- */

/* `logs svc -d dep` once it holds every needle (a line each, exactly);
 * fails after VM_WAIT_MS. Caller frees. */
static char *logs_with_lines(const struct rh_test *t, const char *svc, const char *const *lines)
{
	return rh_logs_with_lines(t, svc, lines, VM_WAIT_MS, 200, true);
}
#define LOGS_WITH(t, svc, ...) logs_with_lines((t), (svc), (const char *const[]){ __VA_ARGS__, NULL })

/* How many lines of text are exactly line. */
static int count_line(const char *text, const char *line)
{
	int n = 0;
	size_t len = strlen(line);
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l == len && memcmp(p, line, len) == 0)
			n++;
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

/* ---- the host ---- */

/* "PID CMDLINE" lines of the processes (but this one) whose command line
 * names the root or one of the deployment's zlvm state directories, or
 * whose cgroup is one of the deployment's. */
static char *procs_of(const struct rh_test *t, pid_t **pids, size_t *npids)
{
	char run_needle[160];
	snprintf(run_needle, sizeof(run_needle), ZLVM_RUN "/zl-%s-", t->dep);
	return rh_procs_of(t, run_needle, 8192, 600, pids, npids);
}

/* procs_of() after giving them up to 5 s to go (a zlmon exits just after
 * writing the exit record delete waits for). */
static char *procs_left(const struct rh_test *t, pid_t **pids, size_t *npids)
{
	return rh_procs_left(t, procs_of, 5000, pids, npids);
}

/* Lines of procs_of() that contain needle (the command), as text. */
static char *procs_with(const struct rh_test *t, const char *needle)
{
	pid_t *pids;
	size_t n;
	char *all = procs_of(t, &pids, &n);
	free(pids);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	char *save = NULL;
	for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strstr(line, needle))
			fprintf(f, "%s\n", line);
	fclose(f);
	free(all);
	return buf;
}

/* rh_cgroups_of() with the processes each holds ("dir: pid pid ..."). */
static char *cgroups_with_procs(const struct rh_test *t)
{
	char *dirs = rh_cgroups_of(t), *buf = NULL, *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	for (char *d = strtok_r(dirs, "\n", &save); d; d = strtok_r(NULL, "\n", &save)) {
		char path[PATH_MAX];
		cli_pathf(path, "%s/cgroup.procs", d);
		char *procs = cli_read_file(path);
		for (char *p = procs; p && *p; p++)
			if (*p == '\n')
				*p = ' ';
		fprintf(f, "%s: procs [%s]\n", d, procs ? procs : "unreadable");
		free(procs);
	}
	fclose(f);
	free(dirs);
	return buf;
}

/* zlvm's state directories of the deployment's replicas. */
static char *zlvm_dirs_of(const struct rh_test *t)
{
	return rh_glob_lines((const char *const[]){ ZLVM_RUN "/zl-%s-*", NULL }, t->dep);
}

/* Named network namespaces of the deployment's replicas. */
static char *netns_of(const struct rh_test *t)
{
	return rh_glob_lines((const char *const[]){ "/run/netns/zl-%s-*", NULL }, t->dep);
}

/* The deployment's leases in the state database (0 without a database). */
static long long leases_of(const struct rh_test *t)
{
	char db[PATH_MAX];
	if (access(cli_db_path(t->tmp.root, db), F_OK) < 0)
		return 0;
	return (long long)cli_db_int(t->tmp.root,
				     "SELECT count(*) FROM leases WHERE deployment = ?1", t->dep);
}

/* Everything of the deployment still on the host, as text ("" when nothing). */
static char *leftovers(const struct rh_test *t)
{
	pid_t *pids;
	size_t npids;
	char *p = procs_left(t, &pids, &npids), *c = cgroups_with_procs(t), *cl = rh_claims_of(t);
	char *m = oci_test_mounts_under(t->tmp.root), *z = zlvm_dirs_of(t), *ns = netns_of(t);
	char *ct = rh_root_entries(t, "containers");
	long long leases = leases_of(t);
	free(pids);
	char *all = NULL;
	if (*p || *c || *cl || *m || *z || *ns || *ct || leases) {
		if (asprintf(&all,
			     "-- processes:\n%s-- cgroups:\n%s-- claims:\n%s-- mounts:\n%s-- zlvm state:\n%s-- netns:\n%s-- %s/containers:\n%s-- leases: %lld\n",
			     p, c, cl, m, z, ns, t->tmp.root, ct, leases) < 0)
			abort();
	} else {
		all = strdup("");
	}
	free(p);
	free(c);
	free(cl);
	free(m);
	free(z);
	free(ns);
	free(ct);
	return all;
}

/* A shell command's stdout (malloc'd) and exit status in *code. */
static char *sh_out(int *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *sh_out(int *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = NULL;
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		fwrite(chunk, 1, n, f);
	int st = pclose(p);
	fclose(f);
	free(cmd);
	*code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return buf;
}

/* Connects to ip:port from the host and reads until the peer closes (5 s
 * at most); NULL (why in *why) when it cannot connect. Caller frees. */
static char *tcp_read(const char *ip, int port, char why[256])
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
		snprintf(why, 256, "bad address %s", ip);
		return NULL;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		snprintf(why, 256, "connect: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	struct pollfd pf = { .fd = fd, .events = POLLOUT };
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (poll(&pf, 1, 3000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ||
	    soerr) {
		snprintf(why, 256, "connect: %s", soerr ? strerror(soerr) : "timed out");
		close(fd);
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	int64_t deadline = cli_mono_ms() + 5000;
	for (;;) {
		pf = (struct pollfd){ .fd = fd, .events = POLLIN };
		int left = (int)(deadline - cli_mono_ms());
		if (left <= 0 || poll(&pf, 1, left) != 1)
			break;
		char chunk[1024];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		fwrite(chunk, 1, (size_t)n, f);
	}
	fclose(f);
	close(fd);
	return buf;
}

/* Waits up to ms for a started zlapply to end; kills it and fails the test
 * when it does not. */
static int wait_proc(struct cli_proc *p, int64_t ms, char **out, char **err, const char *what)
{
	int64_t deadline = cli_mono_ms() + ms;
	for (;;) {
		int st;
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid) {
			/* cli_wait() reads the output; the child is reaped: fake it. */
			char *o = cli_read_file(p->out_path), *e = cli_read_file(p->err_path);
			unlink(p->out_path);
			unlink(p->err_path);
			*out = o ? o : strdup("");
			*err = e ? e : strdup("");
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		if (cli_mono_ms() > deadline) {
			kill(p->pid, SIGKILL);
			char *o = NULL, *e = NULL;
			cli_wait(p, &o, &e);
			FAIL("expected %s to end within %lld ms; it did not\n--- stdout:\n%s--- stderr:\n%s",
			     what, (long long)ms, o, e);
		}
		cli_sleep_ms(50);
	}
}

/* ---- setup and teardown ---- */

/* The first N in 250..255 (from 250 + pid%6) with no link zlv<N> and no
 * route to 10.216.N.0/24 on the host. */
static int pick_subnet(int pid)
{
	char *routes = cli_read_file("/proc/net/route");
	for (int k = 0; k < 6; k++) {
		int n = 250 + (pid + k) % 6;
		char name[16], dest[16];
		snprintf(name, sizeof(name), "zlv%d", n);
		uint32_t net = htonl((10u << 24) | (216u << 16) | ((uint32_t)n << 8));
		snprintf(dest, sizeof(dest), "\t%08X\t", net);
		if (!net_link_exists(name) && !(routes && strstr(routes, dest))) {
			free(routes);
			return n;
		}
	}
	free(routes);
	return 250 + pid % 6;
}

static int group_setup(void **state)
{
	(void)state;
	int pid = (int)getpid();
	int n = pick_subnet(pid);
	snprintf(g.bridge, sizeof(g.bridge), "zlv%d", n);
	snprintf(g.subnet, sizeof(g.subnet), "10.216.%d.0/24", n);
	snprintf(g.ip_prefix, sizeof(g.ip_prefix), "10.216.%d.", n);
	oci_test_ip_forward_save(g.ip_forward, sizeof(g.ip_forward));
	if (geteuid() != 0) {
		snprintf(g.skip_why, sizeof(g.skip_why), "needs root (cgroups, network namespaces, QEMU's taps)");
		return 0;
	}
	/* What scripts/setup provides: missing is a failure, not a skip. */
	const char *missing = NULL;
	if (!oci_test_have("qemu-system-x86_64"))
		missing = "qemu-system-x86_64 (apt-get install qemu-system-x86)";
	else if (access(GUEST_DIR "/initramfs.img", R_OK) < 0 ||
		 (access(GUEST_DIR "/vmlinuz", R_OK) < 0 && access(GUEST_DIR "/vmlinux", R_OK) < 0))
		missing = "the VM guest " GUEST_DIR "/{vmlinuz,initramfs.img} (scripts/build-vm-guest)";
	else if (!oci_test_have("crun") && !oci_test_have("runc"))
		missing = "crun or runc (the container beside the VMs)";
	else if (!oci_test_have("umoci"))
		missing = "umoci (the example image)";
	if (missing) {
		snprintf(g.fail_why, sizeof(g.fail_why), "missing %s: run scripts/setup", missing);
		return 0;
	}
	/* What status must say: zlvm's own decision for this boot. */
	char zlvm[PATH_MAX], *bin = strdup(cli_bin()), *slash = strrchr(bin, '/');
	if (slash)
		*slash = '\0';
	cli_pathf(zlvm, "%s/../backends/vm/zlvm", bin);
	free(bin);
	int code;
	char *accel = sh_out(&code, "'%s' accel", zlvm);
	accel[strcspn(accel, "\n")] = '\0';
	if (code != 0 || (strncmp(accel, "tcg: ", 5) != 0 && strncmp(accel, "kvm: ", 5) != 0)) {
		snprintf(g.fail_why, sizeof(g.fail_why), "`%.300s accel` exited %d saying \"%.150s\"", zlvm, code,
			 accel);
		free(accel);
		return 0;
	}
	snprintf(g.accel_note, sizeof(g.accel_note), "note: vm: QEMU with %s: %s",
		 accel[0] == 'k' ? "KVM" : "TCG (software emulation)", accel + 5);
	free(accel);
	char *kv = cli_read_file(GUEST_DIR "/kernel-version");
	snprintf(g.guest_kernel, sizeof(g.guest_kernel), "%s", kv ? kv : "");
	g.guest_kernel[strcspn(g.guest_kernel, "\n")] = '\0';
	free(kv);

	snprintf(g.dir, sizeof(g.dir), "/tmp/zlvmtest-g-XXXXXX");
	if (!mkdtemp(g.dir)) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	cli_pathf(g.image, "%s/img", g.dir);
	int64_t t0 = cli_mono_ms();
	if (oci_test_build_example_image(g.image) < 0) {
		snprintf(g.fail_why, sizeof(g.fail_why), "scripts/build-example-image %.300s failed: run scripts/setup",
			 g.image);
		return 0;
	}
	fprintf(stderr, "# vm: image in %lld ms; bridge %s, subnet %s; %s\n",
		(long long)(cli_mono_ms() - t0), g.bridge, g.subnet, g.accel_note);
	g.usable = true;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rh_group_cleanup(g.usable, g.bridge, g.subnet, g.ip_forward, g.dir);
	return 0;
}

static int setup(void **state)
{
	return rh_setup(state, "/tmp/zlvmtest-XXXXXX", "zv", ++g.seq, g.bridge, g.subnet, expand);
}

/* Every test starts here: skipped without root, failed (saying to run
 * scripts/setup) without QEMU, the guest or the container tools. */
static struct rh_test *begin(void **state)
{
	if (g.fail_why[0])
		FAIL("VM replicas cannot run here: %s", g.fail_why);
	return rh_begin(state, g.usable, g.skip_why);
}

/* Says where a failed test's VMs logged (vm.log, vm-console.log, zlmon.log). */
static void show_vm_logs(const struct rh_test *t)
{
	char *dirs = rh_root_entries(t, "containers");
	char *save = NULL;
	for (char *d = strtok_r(dirs, "\n", &save); d; d = strtok_r(NULL, "\n", &save)) {
		static const char *const files[] = { "vm.log", "vm-console.log", "zlmon.log" };
		for (size_t i = 0; i < 3; i++) {
			char path[PATH_MAX];
			cli_pathf(path, "%s/%s", d, files[i]);
			char *text = cli_read_file(path);
			if (text && *text) {
				size_t len = strlen(text);
				fprintf(stderr, "--- %s%s:\n%s\n", path, len > 4000 ? " (its end)" : "",
					len > 4000 ? text + len - 4000 : text);
			}
			free(text);
		}
	}
	free(dirs);
}

/* What teardown removes by force beyond mounts, cgroups and claims: the
 * deployment's network namespaces and zlvm state directories. */
static void remove_netns_and_zlvm_dirs(const struct rh_test *t)
{
	char *ns = netns_of(t);
	for (char *save = NULL, *f = strtok_r(ns, "\n", &save); f; f = strtok_r(NULL, "\n", &save)) {
		umount2(f, MNT_DETACH);
		unlink(f);
	}
	free(ns);
	char *z = zlvm_dirs_of(t);
	for (char *save = NULL, *f = strtok_r(z, "\n", &save); f; f = strtok_r(NULL, "\n", &save))
		cli_rm_rf(f);
	free(z);
}

static int teardown(void **state)
{
	struct rh_test *t = *state;
	if (g.usable && getenv("ZL_VM_TEST_SHOW_LOGS"))
		show_vm_logs(t);
	static const struct rh_teardown_ops ops = { .leftovers = leftovers,
						    .procs = procs_of,
						    .settle_ms = 200,
						    .remove_more = remove_netns_and_zlvm_dirs };
	return rh_teardown(t, g.usable, &ops);
}

/* ---- 1. a VM replica runs ---- */

static void test_vm_replica_runs(void **state)
{
	struct rh_test *t = begin(state);
	char *err = NULL;
	int64_t ms;
	char *out = apply_timed(t, "web.yaml",
				"  web:\n"
				"    isolation: vm\n"
				"    image: {name: \"oci:@IMG@:1.0\"}\n"
				"    command: {args: " UP_ARGS "}\n",
				0, &err, &ms);
	rh_assert_action(out, "+ create web-rep-1", err);
	free(out);
	free(err);
	struct rh_replica w = running_vm(t, "web", 1);
	char want_netns[128];
	snprintf(want_netns, sizeof(want_netns), "/run/netns/zl-%s-web-1", t->dep);
	if (strcmp(w.netns, want_netns) != 0)
		FAIL("expected web-rep-1 in the network namespace %s; status says: %s", want_netns,
		     w.r.json);
	/* Its output reaches the logs once the guest has booted. */
	int64_t t0 = cli_mono_ms();
	free(LOGS_WITH(t, "web", "hello from web-rep-1 in a vm"));
	fprintf(stderr, "# vm: apply %lld ms, then the guest's first line after %lld ms\n",
		(long long)ms, (long long)(cli_mono_ms() - t0));
	/* Still the same process: the VM did not end after its first line. */
	struct rh_replica again = running_vm(t, "web", 1);
	if (again.r.pid != w.r.pid || again.r.restarts != 0)
		FAIL("expected web-rep-1 to keep running as pid %lld; status says: %s", w.r.pid,
		     again.r.json);

	/* The table: BACKEND vm, the address, and how QEMU runs here. */
	char *table = rh_status_table(t), fields[12][64], pid[32];
	int n = table_row(table, t->dep, "web-rep-1", fields, 12);
	snprintf(pid, sizeof(pid), "%lld", w.r.pid);
	if (n < 10 || strcmp(fields[COL_STATE], "running") != 0 ||
	    strcmp(fields[COL_BACKEND], "vm") != 0 || strcmp(fields[COL_PID], pid) != 0 ||
	    strcmp(fields[COL_IP], w.ip) != 0)
		FAIL("expected the status row of web-rep-1: running, BACKEND vm, PID %s, IP %s; the table:\n%s",
		     pid, w.ip, table);
	if (cli_line_index(table, g.accel_note) < 0)
		FAIL("expected status to end with the line \"%s\" (zlvm accel's decision); the table:\n%s",
		     g.accel_note, table);
	free(table);
	cJSON *doc = rh_status_doc(t), *note;
	bool found = false;
	cJSON_ArrayForEach(note, cJSON_GetObjectItemCaseSensitive(doc, "notes"))
	{
		if (cJSON_IsString(note) && strcmp(note->valuestring, g.accel_note + 6) == 0)
			found = true;
	}
	if (!found) {
		char *j = cJSON_Print(doc);
		FAIL("expected status -o json's \"notes\" to hold \"%s\"; got:\n%s", g.accel_note + 6, j);
	}
	cJSON_Delete(doc);

	/* QEMU runs, in the replica's cgroup, with the default guest memory. */
	char *qemu = procs_with(t, "qemu-system-x86_64");
	if (cli_count_lines(qemu) != 1 || !strstr(qemu, " -m 256M "))
		FAIL("expected one QEMU of web-rep-1 (with -m 256M, the default guest memory); the deployment's QEMU processes:\n%s",
		     qemu);
	free(qemu);
}

/* ---- 2. an exit code and both output streams ---- */

static void test_exit_code_and_logs(void **state)
{
	struct rh_test *t = begin(state);
	char *err = NULL;
	char *out = apply_spec(t, "e7.yaml",
			       "  e7:\n"
			       "    rtype: job\n"
			       "    isolation: vm\n"
			       "    image: {name: \"oci:@IMG@:1.0\"}\n"
			       "    command: {args: [sh, -c, \"echo out; echo err >&2; exit 7\"]}\n"
			       "    restart_policy: {kind: \"no\"}\n",
			       0, &err);
	rh_assert_action(out, "+ create e7-rep-1", err);
	free(out);
	free(err);
	struct rh_replica w = wait_rep(t, "e7", 1, "exited", 0);
	if (w.r.exit_code != 7 || strcmp(w.r.exit_reason, "exited") != 0 || w.r.exit_signal[0] ||
	    strcmp(w.backend, "vm") != 0 || w.r.pid != -1)
		FAIL("expected e7-rep-1 on backend vm exited with code 7 (reason \"exited\", no signal, no pid); status says: %s",
		     w.r.json);
	/* Both streams, in order, and nothing else (no note of zlvm's). */
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	for (;;) {
		int code = ZL(t, &out, &err, "logs", "e7", "-d", t->dep);
		bool ok = code == 0 && strcmp(out, "out\nerr\n") == 0;
		if (!ok && cli_mono_ms() > deadline)
			FAIL("expected `logs e7` to be exactly \"out\\nerr\\n\"; exit %d\n--- stdout:\n%s--- stderr:\n%s",
			     code, out, err);
		free(out);
		free(err);
		if (ok)
			break;
		cli_sleep_ms(100);
	}
	char *table = rh_status_table(t), fields[12][64];
	int n = table_row(table, t->dep, "e7-rep-1", fields, 12);
	if (n < 10 || strcmp(fields[COL_STATE], "exited") != 0 ||
	    strcmp(fields[COL_BACKEND], "vm") != 0 || strcmp(fields[COL_EXIT], "7") != 0)
		FAIL("expected the status row of e7-rep-1: exited, BACKEND vm, EXIT 7; the table:\n%s",
		     table);
	free(table);
	/* The job's run is recorded with its code. */
	cJSON *doc = rh_status_doc(t);
	cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "runs"), 0);
	if (!run || oci_test_json_int(run, "exit_code") != 7 ||
	    !cli_json_str(run, "reason") || strcmp(cli_json_str(run, "reason"), "exited") != 0) {
		char *j = cJSON_Print(doc);
		FAIL("expected e7's run recorded with exit code 7, reason exited; status:\n%s", j);
	}
	cJSON_Delete(doc);
}

/* ---- 3. SIGTERM within the grace, SIGKILL after it ---- */

/* trm answers SIGTERM (its trap says so and exits 0), grace 20s; the job
 * ij ignores SIGTERM, grace 3s. Each says "up" (or word) once its trap is
 * set. */
#define TRM_SVC \
	"  trm:\n" \
	"    isolation: vm\n" \
	"    image: {name: \"oci:@IMG@:1.0\"}\n" \
	"    command: {args: [\"/bin/sh\", \"-c\", \"trap 'echo got TERM; exit 0' TERM; echo up; " \
	"while true; do sleep 1 & wait; done\"]}\n" \
	"    stop_grace_period: 20s\n"
#define IJ_SVC(word) \
	"  ij:\n" \
	"    rtype: job\n" \
	"    isolation: vm\n" \
	"    image: {name: \"oci:@IMG@:1.0\"}\n" \
	"    command: {args: [\"/bin/sh\", \"-c\", \"trap '' TERM; echo " word "; " \
	"while true; do sleep 1; done\"]}\n" \
	"    stop_grace_period: 3s\n" \
	"    restart_policy: {kind: \"no\"}\n"

static void test_stop_signal_and_grace(void **state)
{
	struct rh_test *t = begin(state);
	free(apply_spec(t, "stop.yaml", TRM_SVC IJ_SVC("up"), 0, NULL));
	long long trm = running_vm(t, "trm", 1).r.pid;
	long long ij = running_vm(t, "ij", 1).r.pid;
	/* "up" comes after the trap is set. */
	free(LOGS_WITH(t, "trm", "up"));
	free(LOGS_WITH(t, "ij", "up"));

	/* trm: scaled to 0 (its service removed), the trap answers SIGTERM at
	 * once, far within the 20 s grace; a `logs -f` that followed it sees
	 * the trap's line, then ends with the replica. */
	struct oci_test_flags f = rh_flags_for(t, "logs");
	struct cli_proc follow;
	oci_test_spawn(OCI_FLAGS_AFTER_VERB, &f, NULL,
		       (const char *const[]){ "logs", "-f", "trm", "-d", t->dep, NULL }, &follow);
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	for (;;) {
		char *so = cli_read_file(follow.out_path);
		bool up = so && cli_line_index(so, "up") >= 0;
		free(so);
		if (up)
			break;
		if (cli_mono_ms() > deadline) {
			char *o = NULL, *e = NULL;
			wait_proc(&follow, 100, &o, &e, "logs -f trm");
			FAIL("expected `logs -f trm` to print \"up\" within %d ms\n--- stdout:\n%s--- stderr:\n%s",
			     WAIT_MS, o, e);
		}
		cli_sleep_ms(50);
	}
	char *err = NULL;
	int64_t ms;
	char *out = apply_timed(t, "stop2.yaml", IJ_SVC("up"), 0, &err, &ms);
	rh_assert_action(out, "- remove trm-rep-1", err);
	if (ms > 8000 || !rh_wait_pid_dead(trm, 2000))
		FAIL("expected trm-rep-1 (its trap exits 0 on SIGTERM; grace 20s) removed well within its grace (< 8 s) and its pid %lld gone; took %lld ms\n--- stdout:\n%s--- stderr:\n%s",
		     trm, (long long)ms, out, err);
	free(out);
	free(err);
	fprintf(stderr, "# vm: trm-rep-1 (trap on SIGTERM, grace 20s) removed in %lld ms\n", (long long)ms);
	char *fo = NULL, *fe = NULL;
	int code = wait_proc(&follow, WAIT_MS, &fo, &fe, "`logs -f trm` after trm-rep-1 was removed");
	if (code != 0 || cli_line_index(fo, "got TERM") < 0)
		FAIL("expected `logs -f trm` to show the trap's \"got TERM\" and exit 0 once trm-rep-1 was removed (after %lld ms); exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     (long long)ms, code, fo, fe);
	free(fo);
	free(fe);

	/* ij: ignores SIGTERM; recreated (its command changed), it is stopped
	 * after its 3 s grace with SIGKILL, which its run records. */
	out = apply_timed(t, "stop3.yaml", IJ_SVC("up2"), 0, &err, &ms);
	rh_assert_action(out, "~ recreate ij-rep-1 (command changed)", err);
	if (ms < 2900 || ms > 12000 || !rh_wait_pid_dead(ij, 2000))
		FAIL("expected the recreate of ij-rep-1 (SIGTERM ignored, grace 3s) to SIGKILL it after its grace (3-12 s) and its pid %lld gone; took %lld ms\n--- stdout:\n%s--- stderr:\n%s",
		     ij, (long long)ms, out, err);
	free(out);
	free(err);
	fprintf(stderr, "# vm: ij-rep-1 (SIGTERM ignored, grace 3s) recreated in %lld ms\n", (long long)ms);
	cJSON *doc = rh_status_doc(t), *r, *first = NULL;
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "runs"))
	{
		const char *svc = cli_json_str(r, "service");
		if (svc && strcmp(svc, "ij") == 0 && oci_test_json_int(r, "run") == 1)
			first = r;
	}
	const char *sig = first ? cli_json_str(first, "exit_signal") : NULL;
	if (!first || oci_test_json_int(first, "exit_code") != 137 || !sig ||
	    strcmp(sig, "SIGKILL") != 0) {
		char *j = cJSON_Print(cJSON_GetObjectItemCaseSensitive(doc, "runs"));
		FAIL("expected ij's first run recorded as killed by SIGKILL (137) after its grace; runs:\n%s",
		     j);
	}
	/* Its log (archived with the run) has its output and nothing after. */
	const char *log = cli_json_str(first, "log");
	char *text = log ? cli_read_file(log) : NULL;
	if (!text || !strstr(text, "\"up\\n\"") || strstr(text, "TERM"))
		FAIL("expected ij's first run log %s to hold its \"up\" line only; it holds: %s",
		     log ? log : "(none)", text ? text : "(nothing)");
	free(text);
	cJSON_Delete(doc);
}

/* ---- 4. exec ---- */

static void test_exec(void **state)
{
	struct rh_test *t = begin(state);
	free(apply_spec(t, "ex.yaml",
			"  web:\n"
			"    isolation: vm\n"
			"    image: {name: \"oci:@IMG@:1.0\"}\n"
			"    command: {args: " UP_ARGS ", workdir: /tmp}\n"
			"    env: {GREETING: hello from the spec}\n",
			0, NULL));
	running_vm(t, "web", 1);
	free(LOGS_WITH(t, "web", "hello from web-rep-1 in a vm"));

	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "exec", "-d", t->dep, "web-rep-1", "--", "hostname");
	if (code != 0 || strcmp(out, "web-rep-1\n") != 0)
		FAIL("expected `exec web-rep-1 -- hostname` to print \"web-rep-1\" and exit 0; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	code = ZL(t, &out, &err, "exec", "-d", t->dep, "web-rep-1", "--", "cat",
		  "/proc/sys/kernel/hostname");
	if (code != 0 || strcmp(out, "web-rep-1\n") != 0)
		FAIL("expected `exec web-rep-1 -- cat /proc/sys/kernel/hostname` to print \"web-rep-1\" and exit 0; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	/* The guest's own kernel, not the host's. */
	code = ZL(t, &out, &err, "exec", "-d", t->dep, "web-rep-1", "--", "cat",
		  "/proc/sys/kernel/osrelease");
	char want[160];
	snprintf(want, sizeof(want), "%s\n", g.guest_kernel);
	if (code != 0 || !g.guest_kernel[0] || strcmp(out, want) != 0)
		FAIL("expected the replica to run the guest's kernel %s (" GUEST_DIR "/kernel-version); exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     g.guest_kernel, code, out, err);
	free(out);
	free(err);
	/* The process's env, workdir and user; the command's exit code. */
	code = ZL(t, &out, &err, "exec", "-d", t->dep, "web-rep-1", "--", "sh", "-c",
		  "echo $GREETING; pwd; id -u; echo to stderr >&2; exit 3");
	if (code != 3 || strcmp(out, "hello from the spec\n/tmp\n0\n") != 0 ||
	    !strstr(err, "to stderr\n"))
		FAIL("expected exec of `sh -c ...; exit 3` to print GREETING, /tmp (workdir) and uid 0, \"to stderr\" on stderr, and exit 3; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	/* A command that cannot start: Docker's words and codes. */
	code = ZL(t, &out, &err, "exec", "-d", t->dep, "web-rep-1", "--", "no-such-command", "x");
	if (code != 127 ||
	    !strstr(err, "exec: \"no-such-command\": executable file not found in $PATH"))
		FAIL("expected exec of a missing command to exit 127 saying exec: \"no-such-command\": executable file not found in $PATH; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	code = ZL(t, &out, &err, "exec", "-d", t->dep, "web-rep-1", "--", "/no/such/file");
	if (code != 127 || !strstr(err, "/no/such/file") || !strstr(err, "no such file or directory"))
		FAIL("expected exec of /no/such/file to exit 127 saying no such file or directory; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	code = ZL(t, &out, &err, "exec", "-d", t->dep, "web-rep-1", "--", "/etc/passwd");
	if (code != 126 || !strstr(err, "exec: \"/etc/passwd\": permission denied"))
		FAIL("expected exec of /etc/passwd (not executable) to exit 126 saying permission denied; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	/* The command of a signal's death: 128 + the signal. */
	code = ZL(t, &out, &err, "exec", "-d", t->dep, "web-rep-1", "--", "sh", "-c", "kill -9 $$");
	if (code != 137)
		FAIL("expected exec of a command killed by SIGKILL to exit 137; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	/* None of it disturbed the replica. */
	struct rh_replica w = running_vm(t, "web", 1);
	if (w.r.restarts != 0)
		FAIL("expected web-rep-1 untouched by the execs; status says: %s", w.r.json);
}

/* ---- 5. reachable on its address ---- */

static void test_network(void **state)
{
	struct rh_test *t = begin(state);
	free(apply_spec(t, "net.yaml",
			"  srv:\n"
			"    isolation: vm\n"
			"    image: {name: \"oci:@IMG@:1.0\"}\n"
			"    command: {args: [\"/bin/sh\", \"-c\", \"echo listening; exec nc -ll -p 8080 -e echo hi from the vm\"]}\n"
			"  box:\n"
			"    image: {name: \"oci:@IMG@:1.0\"}\n"
			"    command: {args: [\"/bin/sh\", \"-c\", \"echo listening; exec nc -ll -p 8081 -e echo hi from the box\"]}\n",
			0, NULL));
	struct rh_replica srv = running_vm(t, "srv", 1);
	struct rh_replica box = wait_rep(t, "box", 1, "running", 0);
	if (strcmp(box.backend, "oci") != 0 || strncmp(box.ip, g.ip_prefix, strlen(g.ip_prefix)) != 0 ||
	    strcmp(box.ip, srv.ip) == 0)
		FAIL("expected box-rep-1 a container (backend oci) with its own address in %s; status says: %s",
		     g.subnet, box.r.json);
	free(LOGS_WITH(t, "srv", "listening"));

	/* From the host: the VM's address on the test's bridge. */
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	for (;;) {
		char why[256] = "";
		char *reply = tcp_read(srv.ip, 8080, why);
		bool ok = reply && strcmp(reply, "hi from the vm\n") == 0;
		if (!ok && cli_mono_ms() > deadline)
			FAIL("expected %s:8080 (srv-rep-1, a VM) to answer \"hi from the vm\" from the host; %s%s",
			     srv.ip, reply ? "got: " : "", reply ? reply : why);
		free(reply);
		if (ok)
			break;
		cli_sleep_ms(200);
	}
	/* From a container replica of the same deployment. */
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "exec", "-d", t->dep, "box-rep-1", "--", "nc", "-w", "5", srv.ip,
		      "8080");
	if (code != 0 || strcmp(out, "hi from the vm\n") != 0)
		FAIL("expected `nc %s 8080` in box-rep-1 (a container) to get \"hi from the vm\"; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     srv.ip, code, out, err);
	free(out);
	free(err);
	/* And the other way: from the VM to the container. */
	deadline = cli_mono_ms() + WAIT_MS;
	for (;;) {
		code = ZL(t, &out, &err, "exec", "-d", t->dep, "srv-rep-1", "--", "nc", "-w", "5",
			  box.ip, "8081");
		bool ok = code == 0 && strcmp(out, "hi from the box\n") == 0;
		if (!ok && cli_mono_ms() > deadline)
			FAIL("expected `nc %s 8081` in srv-rep-1 (the VM) to get \"hi from the box\" from the container; exit %d\n--- stdout:\n%s--- stderr:\n%s",
			     box.ip, code, out, err);
		free(out);
		free(err);
		if (ok)
			break;
		cli_sleep_ms(200);
	}
}

/* ---- 6. restart policy ---- */

static void test_restart_policy(void **state)
{
	struct rh_test *t = begin(state);
	static const char services[] =
		"  fl:\n"
		"    isolation: vm\n"
		"    image: {name: \"oci:@IMG@:1.0\"}\n"
		"    command: {args: [sh, -c, \"echo failing; exit 1\"]}\n"
		"    restart_policy: {kind: on_failure, max_attempts: 2, delay: 1s}\n";
	char *err = NULL;
	char *out = apply_spec(t, "fl.yaml", services, 0, &err);
	rh_assert_action(out, "+ create fl-rep-1", err);
	free(out);
	free(err);
	struct rh_replica w = wait_rep(t, "fl", 1, "exited", 0);
	if (w.r.exit_code != 1 || w.r.restarts != 0 || strcmp(w.backend, "vm") != 0)
		FAIL("expected fl-rep-1 on vm exited 1, not restarted yet; status says: %s", w.r.json);

	/* Applies restart it (after its back-off), once per attempt. */
	int64_t deadline = cli_mono_ms() + 3 * VM_WAIT_MS;
	for (int restarts = 0; restarts < 2;) {
		out = apply_spec(t, "fl.yaml", services, 0, &err);
		bool restarted = cli_action_index(out, "> restart fl-rep-1 (exited 1)") >= 0;
		if (!restarted && cli_count_lines(out) != 0)
			FAIL("expected apply to restart fl-rep-1 or do nothing (back-off); it said:\n%s--- stderr:\n%s",
			     out, err);
		free(out);
		free(err);
		if (restarted) {
			restarts++;
			w = wait_rep(t, "fl", 1, "exited", restarts);
			if (w.r.restarts != restarts || w.r.exit_code != 1)
				FAIL("expected fl-rep-1 exited 1 after restart %d; status says: %s",
				     restarts, w.r.json);
		} else {
			if (cli_mono_ms() > deadline)
				FAIL("expected fl-rep-1 restarted twice; status says: %s",
				     rh_rep(t, "fl", 1).r.json);
			cli_sleep_ms(300);
		}
	}
	/* The attempts are used up: later applies (past any back-off) leave it. */
	for (int i = 0; i < 2; i++) {
		cli_sleep_ms(2500);
		out = apply_spec(t, "fl.yaml", services, 0, &err);
		if (strstr(out, "fl-rep-1"))
			FAIL("expected no action on fl-rep-1 after its 2 attempts (max_attempts 2); apply said:\n%s",
			     out);
		free(out);
		free(err);
	}
	w = rh_rep(t, "fl", 1);
	if (strcmp(w.r.state, "exited") != 0 || w.r.restarts != 2 || w.r.exit_code != 1 ||
	    w.r.pid != -1)
		FAIL("expected fl-rep-1 to stay exited (code 1) with 2 restarts; status says: %s",
		     w.r.json);
	/* Every run of the replica is in its logs. */
	char *logs = LOGS_WITH(t, "fl", "failing");
	if (count_line(logs, "failing") != 3 || cli_count_lines(logs) != 3)
		FAIL("expected 3 \"failing\" lines in fl's logs (3 runs) and nothing else; got:\n%s",
		     logs);
	free(logs);
}

/* ---- 7. delete leaves nothing ---- */

static void test_delete_leaves_nothing(void **state)
{
	struct rh_test *t = begin(state);
	free(apply_spec(t, "del.yaml",
			"  web:\n"
			"    isolation: vm\n"
			"    image: {name: \"oci:@IMG@:1.0\"}\n"
			"    command: {args: " UP_ARGS "}\n"
			"    storage: [{type: anonymous, target: /scratch}]\n"
			"  kl:\n"
			"    isolation: vm\n"
			"    image: {name: \"oci:@IMG@:1.0\"}\n"
			"    command: {args: " UP_ARGS "}\n",
			0, NULL));
	struct rh_replica w = running_vm(t, "web", 1), k = running_vm(t, "kl", 1);
	free(LOGS_WITH(t, "web", "hello from web-rep-1 in a vm"));
	free(LOGS_WITH(t, "kl", "hello from kl-rep-1 in a vm"));
	char id[128], qneedle[192];
	snprintf(id, sizeof(id), "zl-%s-web-1", t->dep);
	snprintf(qneedle, sizeof(qneedle), ZLVM_RUN "/%s/", id);

	/* What delete must take away is there now (web-rep-1's, and kl's). */
	char *qemu = procs_with(t, qneedle), *shim = procs_with(t, "zlvm");
	char *cg = rh_cgroups_of(t), *cl = rh_claims_of(t), *z = zlvm_dirs_of(t), *ns = netns_of(t);
	char *m = oci_test_mounts_under(t->tmp.root);
	long long leases = leases_of(t);
	int code;
	char *links = sh_out(&code, "ip -n '%s' -o link show 2>&1", id);
	char veth[NET_IFNAME_MAX + 1];
	net_ifname("zlh", t->dep, "web", 1, veth);
	if (cli_count_lines(qemu) != 1 || !strstr(qemu, "qemu-system-x86_64") ||
	    cli_count_lines(shim) < 2 || !strstr(cg, id) || cli_count_lines(cl) != 2 ||
	    cli_count_lines(z) != 2 || cli_count_lines(ns) != 2 || !*m || leases != 2 ||
	    !strstr(links, "zltap0") || !strstr(links, "zlbr0") || !net_link_exists(veth))
		FAIL("expected while web-rep-1 and kl-rep-1 run: web's QEMU, the zlvm shims, cgroups, 2 claims, 2 zlvm state dirs, 2 netns (web's with zltap0 and zlbr0), host veth %s, mounts under the root and 2 leases:\n-- web's qemu:\n%s-- zlvm:\n%s-- cgroups:\n%s-- claims:\n%s-- zlvm state:\n%s-- netns:\n%s-- links in %s:\n%s-- mounts:\n%s-- leases: %lld",
		     veth, qemu, shim, cg, cl, z, ns, id, links, m, leases);
	/* QEMU runs in the replica's cgroup. */
	long long qpid = strtoll(qemu, NULL, 10);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%lld/cgroup", qpid);
	char *qcg = cli_read_file(path), cg_needle[160];
	snprintf(cg_needle, sizeof(cg_needle), "/zlapply/%s\n", id);
	if (!qcg || !strstr(qcg, cg_needle))
		FAIL("expected QEMU (pid %lld) in the replica's cgroup %s; /proc/%lld/cgroup:\n%s", qpid,
		     cg_needle, qpid, qcg ? qcg : "(none)");
	free(qcg);
	free(qemu);
	free(shim);
	free(cg);
	free(cl);
	free(z);
	free(ns);
	free(m);
	free(links);

	/* kl is SIGKILLed (`zlapply kill`), then the deployment deleted at
	 * once, as a user in a hurry would; web-rep-1 is stopped by delete. */
	char *out = NULL, *err = NULL;
	code = ZL(t, &out, &err, "kill", "kl-rep-1", "-d", t->dep);
	assert_exit(code, 0, out, err);
	free(out);
	free(err);
	int64_t ms;
	code = ZL_TIMED(t, &ms, &out, &err, "delete", "-d", t->dep);
	assert_exit(code, 0, out, err);
	rh_assert_action(out, "- remove web-rep-1", err);
	rh_assert_action(out, "- remove kl-rep-1", err);
	free(out);
	free(err);
	if (!rh_wait_pid_dead(w.r.pid, 3000) || !rh_wait_pid_dead(qpid, 3000) ||
	    !rh_wait_pid_dead(k.r.pid, 3000))
		FAIL("expected web-rep-1's pid %lld, its QEMU %lld and kl-rep-1's pid %lld dead after delete",
		     w.r.pid, qpid, k.r.pid);
	fprintf(stderr, "# vm: delete of web-rep-1 and the killed kl-rep-1 in %lld ms\n", (long long)ms);
	char *left = leftovers(t);
	if (*left)
		FAIL("expected nothing of %s left after `kill kl-rep-1` and delete (%lld ms):\n%s",
		     t->dep, (long long)ms, left);
	free(left);
	if (net_link_exists(veth))
		FAIL("expected the host veth %s gone after delete", veth);
	rh_expect_deployment_gone(t);
}

/* ---- 8. bad input ---- */

static void test_bad_input(void **state)
{
	struct rh_test *t = begin(state);
	char *err = NULL;
	char *out = apply_spec(t, "big.yaml",
			       "  big:\n"
			       "    isolation: vm\n"
			       "    image: {name: \"oci:@IMG@:1.0\"}\n"
			       "    command: {args: " UP_ARGS "}\n"
			       "    resources: {memory: 4096Gi}\n"
			       "  box:\n"
			       "    image: {name: \"oci:@IMG@:1.0\"}\n"
			       "    command: {args: [\"/bin/sh\", \"-c\", \"echo box up; trap 'exit 0' TERM; while true; do sleep 1 & wait; done\"]}\n",
			       1, &err);
	/* The create fails naming the replica, the request and the host's memory. */
	char *line = cli_find_line(err, (const char *const[]){ "create big-rep-1", "resources.memory",
							       "more than this host has",
							       "MemTotal", NULL });
	if (!line)
		FAIL("expected apply's stderr to say big-rep-1's create failed: resources.memory is more than this host has (MemTotal ...); stderr:\n%s",
		     err);
	free(line);
	free(out);
	free(err);
	struct rh_replica big = rh_rep(t, "big", 1);
	if (strcmp(big.r.state, "failed") != 0 || big.r.pid != -1 ||
	    !strstr(big.r.error, "more than this host has") || strcmp(big.backend, "vm") != 0)
		FAIL("expected big-rep-1 failed on backend vm without a pid, its error saying why; status says: %s",
		     big.r.json);
	/* The rest of the deployment goes ahead. */
	struct rh_replica box = wait_rep(t, "box", 1, "running", 0);
	if (strcmp(box.backend, "oci") != 0)
		FAIL("expected box-rep-1 running on oci beside the failed VM; status says: %s",
		     box.r.json);
	/* Nothing of big runs or waits. */
	char id[128], needle[160];
	snprintf(id, sizeof(id), "zl-%s-big-1", t->dep);
	snprintf(needle, sizeof(needle), "%s", id);
	char *procs = procs_with(t, needle);
	char zdir[PATH_MAX];
	cli_pathf(zdir, ZLVM_RUN "/%s", id);
	char *cg = rh_glob_lines((const char *const[]){ "/sys/fs/cgroup/*/zlapply/zl-%s-big-1",
						     "/sys/fs/cgroup/zlapply/zl-%s-big-1", NULL },
			      t->dep);
	if (*procs || access(zdir, F_OK) == 0 || *cg)
		FAIL("expected nothing of big-rep-1 running or left (a process naming %s, %s, a cgroup):\n-- processes:\n%s-- cgroups:\n%s-- %s exists: %s",
		     id, zdir, procs, cg, zdir, access(zdir, F_OK) == 0 ? "yes" : "no");
	free(procs);
	free(cg);
	/* Applied again: the same refusal, the container untouched. */
	out = apply_spec(t, "big.yaml",
			 "  big:\n"
			 "    isolation: vm\n"
			 "    image: {name: \"oci:@IMG@:1.0\"}\n"
			 "    command: {args: " UP_ARGS "}\n"
			 "    resources: {memory: 4096Gi}\n"
			 "  box:\n"
			 "    image: {name: \"oci:@IMG@:1.0\"}\n"
			 "    command: {args: [\"/bin/sh\", \"-c\", \"echo box up; trap 'exit 0' TERM; while true; do sleep 1 & wait; done\"]}\n",
			 1, &err);
	if (strstr(out, "box-rep-1") || !strstr(err, "more than this host has"))
		FAIL("expected the second apply to refuse big-rep-1 again and leave box-rep-1; stdout:\n%s--- stderr:\n%s",
		     out, err);
	free(out);
	free(err);
	struct rh_replica box2 = rh_rep(t, "box", 1);
	if (strcmp(box2.r.state, "running") != 0 || box2.r.pid != box.r.pid)
		FAIL("expected box-rep-1 to keep running as pid %lld; status says: %s", box.r.pid,
		     box2.r.json);

	/* network_mode host (and container:...) on a VM: a validate error. */
	static const char *const modes[] = { "host", "\"container:box\"" };
	for (size_t i = 0; i < 2; i++) {
		char services[512], spec[PATH_MAX], file[32];
		snprintf(services, sizeof(services),
			 "  hn:\n"
			 "    isolation: vm\n"
			 "    image: {name: \"oci:@IMG@:1.0\"}\n"
			 "    network_mode: %s\n",
			 modes[i]);
		snprintf(file, sizeof(file), "netmode%zu.yaml", i);
		rh_write_spec(t, file, services, spec);
		int code = run_zlapply(NULL, NULL, &out, &err, "validate", "-f", spec);
		if (code != 2 || !cli_has_location(err, spec, 0) ||
		    !cli_has_line_with(err, "services.hn", "network_mode host or container:", "VM"))
			FAIL("expected validate to refuse network_mode %s on a VM service (exit 2, file:line:col, naming network_mode); exit %d\n--- stdout:\n%s--- stderr:\n%s",
			     modes[i], code, out, err);
		free(out);
		free(err);
		code = ZL(t, &out, &err, "apply", "-f", spec);
		if (code != 2 || !strstr(err, "nothing was changed"))
			FAIL("expected apply of the network_mode %s spec to exit 2, nothing changed; exit %d\n--- stdout:\n%s--- stderr:\n%s",
			     modes[i], code, out, err);
		free(out);
		free(err);
	}
	if (rh_rep(t, "hn", 1).r.found)
		FAIL("expected no hn replica after a refused spec");
}

/* ---- 9. adoption ---- */

static void test_adoption(void **state)
{
	struct rh_test *t = begin(state);
	static const char services[] = "  web:\n"
				       "    isolation: vm\n"
				       "    image: {name: \"oci:@IMG@:1.0\"}\n"
				       "    command: {args: " UP_ARGS "}\n";
	free(apply_spec(t, "web.yaml", services, 0, NULL));
	struct rh_replica w = running_vm(t, "web", 1);
	free(LOGS_WITH(t, "web", "hello from web-rep-1 in a vm"));

	/* (a) A second apply is a no-op: the same process. */
	char *err = NULL;
	char *out = apply_spec(t, "web.yaml", services, 0, &err);
	if (cli_count_lines(out) != 0 || !strstr(err, "up to date"))
		FAIL("expected a no-op apply (\"up to date\"); stdout:\n%s--- stderr:\n%s", out, err);
	free(out);
	free(err);
	struct rh_replica a = running_vm(t, "web", 1);
	if (a.r.pid != w.r.pid || strcmp(a.ip, w.ip) != 0)
		FAIL("expected web-rep-1 to keep pid %lld and address %s; status says: %s", w.r.pid,
		     w.ip, a.r.json);

	/* (b) The database is lost: the next apply adopts the running VM. */
	rh_lose_state_db(t);
	out = apply_spec(t, "web.yaml", services, 0, &err);
	if (strstr(out, "create") || strstr(out, "web-rep-1") || !strstr(err, "adopted 1 replica"))
		FAIL("expected the apply after a lost state.db to adopt 1 replica and create none; stdout:\n%s--- stderr:\n%s",
		     out, err);
	free(out);
	free(err);
	struct rh_replica b = wait_rep(t, "web", 1, "running", 0);
	if (b.r.pid != w.r.pid || b.r.restarts != 0 || strcmp(b.ip, w.ip) != 0 || leases_of(t) != 1)
		FAIL("expected web-rep-1 adopted with pid %lld and its address %s (leased again), not restarted; status says: %s",
		     w.r.pid, w.ip, b.r.json);
	/* Still the same VM, reachable through exec. */
	int code = ZL(t, &out, &err, "exec", "-d", t->dep, "web-rep-1", "--", "hostname");
	if (code != 0 || strcmp(out, "web-rep-1\n") != 0)
		FAIL("expected exec into the adopted web-rep-1 to work; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	code = ZL(t, &out, &err, "doctor");
	if (code != 0 || strcmp(out, "nothing to clean up\n") != 0)
		FAIL("expected doctor to find nothing after the adoption; exit %d\n--- stdout:\n%s--- stderr:\n%s",
		     code, out, err);
	free(out);
	free(err);
	/* Applied again: nothing to do. */
	out = apply_spec(t, "web.yaml", services, 0, &err);
	if (cli_count_lines(out) != 0 || !strstr(err, "up to date"))
		FAIL("expected a no-op apply after the adoption; stdout:\n%s--- stderr:\n%s", out, err);
	free(out);
	free(err);
	/* It is still a VM replica. */
	b = rh_rep(t, "web", 1);
	char *table = rh_status_table(t), fields[12][64];
	int n = table_row(table, t->dep, "web-rep-1", fields, 12);
	if (strcmp(b.backend, "vm") != 0 || n < 10 || strcmp(fields[COL_BACKEND], "vm") != 0)
		FAIL("expected the adopted web-rep-1 on backend \"vm\" (it runs in QEMU under zlvm); status says: %s\n-- the table:\n%s",
		     b.r.json, table);
	free(table);
}

/* ---- 10. service names (issue 15) ---- */

/* srv: a VM; box: n containers, each answering its hostname on 8081. */
static char *names_spec(int boxes)
{
	char *text = NULL;
	if (asprintf(&text,
		     "  srv:\n"
		     "    isolation: vm\n"
		     "    image: {name: \"oci:@IMG@:1.0\"}\n"
		     "    command: {args: " UP_ARGS "}\n"
		     "  box:\n"
		     "    image: {name: \"oci:@IMG@:1.0\"}\n"
		     "    command: {args: [\"/bin/sh\", \"-c\", \"exec nc -ll -p 8081 -e hostname\"]}\n"
		     "    scale: {mode: fixed, replicas: %d}\n",
		     boxes) < 0)
		abort();
	return text;
}

/* `nc -w 5 name 8081` in the VM srv-rep-1: its exit code, what it printed
 * (stdout, then stderr) into *said (caller frees). */
static int nc_in_vm(const struct rh_test *t, const char *name, char **said)
{
	char *out = NULL, *err = NULL;
	int code = ZL(t, &out, &err, "exec", "-d", t->dep, "srv-rep-1", "--", "nc", "-w", "5", name,
		      "8081");
	if (asprintf(said, "%s%s", out, err) < 0)
		abort();
	free(out);
	free(err);
	return code;
}

/* In the VM, name reaches box-rep-<want> (its hostname comes back); a
 * container may take a moment to listen after its start. */
static void assert_vm_reaches(const struct rh_test *t, const char *name, const char *want)
{
	int64_t deadline = cli_mono_ms() + WAIT_MS;
	for (;;) {
		char *said = NULL;
		int code = nc_in_vm(t, name, &said);
		bool ok = code == 0 && strstr(said, want) != NULL;
		if (!ok && cli_mono_ms() > deadline)
			FAIL("expected `nc %s 8081` in srv-rep-1 (a VM) to get \"%s\"; exit %d: %s", name,
			     want, code, said);
		free(said);
		if (ok)
			return;
		cli_sleep_ms(200);
	}
}

/* A VM replica resolves the deployment's names from the hosts file zlmeta
 * binds (not a copy): a scale up and down reaches the running guest. */
static void test_names_in_a_vm(void **state)
{
	struct rh_test *t = begin(state);
	char *spec = names_spec(1);
	free(apply_spec(t, "names.yaml", spec, 0, NULL));
	free(spec);
	struct rh_replica vm = running_vm(t, "srv", 1);
	free(LOGS_WITH(t, "srv", "hello from srv-rep-1 in a vm"));
	assert_vm_reaches(t, "box-rep-1", "box-rep-1");
	assert_vm_reaches(t, "box", "box-rep-1");

	spec = names_spec(2);
	free(apply_spec(t, "names.yaml", spec, 0, NULL));
	free(spec);
	wait_rep(t, "box", 2, "running", 0);
	assert_vm_reaches(t, "box-rep-2", "box-rep-2");
	char *dotted = NULL;
	if (asprintf(&dotted, "box-rep-2.%s", t->dep) < 0)
		abort();
	assert_vm_reaches(t, dotted, "box-rep-2");
	free(dotted);

	spec = names_spec(1);
	free(apply_spec(t, "names.yaml", spec, 0, NULL));
	free(spec);
	char *said = NULL;
	int code = nc_in_vm(t, "box-rep-2", &said);
	if (code == 0 || !strstr(said, "bad address"))
		FAIL("expected box-rep-2 not to resolve in srv-rep-1 after the scale down; exit %d: %s",
		     code, said);
	free(said);
	struct rh_replica after = running_vm(t, "srv", 1);
	if (after.r.pid != vm.r.pid)
		FAIL("expected srv-rep-1 to keep running (pid %lld) through the scales; status says: %s",
		     vm.r.pid, after.r.json);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_vm_replica_runs),
		T(test_exit_code_and_logs),
		T(test_stop_signal_and_grace),
		T(test_exec),
		T(test_network),
		T(test_restart_policy),
		T(test_delete_leaves_nothing),
		T(test_bad_input),
		T(test_adoption),
		T(test_names_in_a_vm),
	};
#undef T
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
