/* vm.c: the vm backend. A replica with `isolation: vm` is an OCI bundle
 * exactly as a container's (the oci backend makes it: overlay rootfs,
 * config.json, network namespace, cgroup path, claims), run by zlvm
 * instead of crun or runc: zlvm is an OCI runtime that boots the bundle in
 * a QEMU guest (backends/vm/zlvm.c, the guest's init in guest/). So this
 * backend is an oci instance whose runtime is zlvm, plus what only a VM
 * needs: a hypervisor and a guest kernel, checked at probe with what to do
 * when they are missing.
 *
 * The oci backend records each replica's runtime at create, so any oci
 * instance (the run's, a later `zlapply logs`) starts, stops, execs into
 * and deletes a VM replica with zlvm. */
#include "backends/backend.h"

#include <string.h>
#include <unistd.h>

#include "backends/supervise.h"

#define GUEST_DIR "/usr/local/lib/zlapply/guest" /* scripts/build-vm-guest */

struct vm_ctx {
	struct backend *inner; /* oci with zlvm as its runtime (NULL until probe) */
	char *zlvm;
};

static struct vm_ctx *ctx_of(struct backend *b)
{
	return b->ctx;
}

/* zlvm: beside the running binary (installed: libexec), or in the build
 * tree. */
static char *find_zlvm(void)
{
	return supervise_find_beside("zlvm", "vm", X_OK);
}

static int vm_probe(struct backend *b, struct zl_err *err)
{
	struct vm_ctx *c = ctx_of(b);
	if (c->inner)
		return 0;
	if (!c->zlvm && !(c->zlvm = find_zlvm()))
		return zl_fail(err, "zlvm (the VM runtime) is not installed beside zlapply (libexec/zlapply)");
	_cleanup_free_ char *qemu = supervise_which("qemu-system-x86_64");
	if (!qemu)
		return zl_fail(err, "QEMU is not installed: VM replicas need qemu-system-x86_64 (apt-get install qemu-system-x86, or scripts/setup)");
	if (access(GUEST_DIR "/vmlinuz", R_OK) < 0 || access(GUEST_DIR "/initramfs.img", R_OK) < 0)
		return zl_fail(err, "no guest kernel in " GUEST_DIR " (vmlinuz, initramfs.img): run scripts/build-vm-guest");
	struct backend_options o = { .runtime = c->zlvm };
	struct backend *inner = NULL;
	if (backend_open("oci", b->root, &o, &inner, err) < 0)
		return -1;
	if (inner->ops->probe(inner, err) < 0) {
		backend_close(inner);
		return -1;
	}
	c->inner = inner;
	return 0;
}

/* The oci instance, probed first (a later verb may not have probed). */
static struct backend *inner_of(struct backend *b, struct zl_err *err)
{
	return vm_probe(b, err) == 0 ? ctx_of(b)->inner : NULL;
}

static bool vm_wants_network(struct backend *b)
{
	(void)b;
	return true;
}

static bool vm_needs_images(struct backend *b)
{
	(void)b;
	return true;
}

static int vm_create(struct backend *b, const struct backend_replica_spec *rs, struct zl_err *err)
{
	struct backend *in = inner_of(b, err);
	if (!in)
		return zl_err_prefix(err, "service %s (isolation: vm)", rs->service->name);
	return in->ops->create(in, rs, err);
}

/* Every other operation is the oci instance's. */
#define DELEGATE(ret_fail, call)                                \
	do {                                                    \
		struct backend *in = inner_of(b, err);          \
		if (!in)                                        \
			return ret_fail;                        \
		return call;                                    \
	} while (0)

static int vm_start(struct backend *b, const char *id, struct zl_err *err)
{
	DELEGATE(-1, in->ops->start(in, id, err));
}

static int vm_stop(struct backend *b, const char *id, int signo, int64_t timeout_ms,
		   struct zl_err *err)
{
	DELEGATE(-1, in->ops->stop(in, id, signo, timeout_ms, err));
}

static int vm_stop_begin(struct backend *b, const char *id, int signo, struct zl_err *err)
{
	DELEGATE(-1, in->ops->stop_begin(in, id, signo, err));
}

static int vm_kill(struct backend *b, const char *id, int signo, struct zl_err *err)
{
	DELEGATE(-1, in->ops->kill(in, id, signo, err));
}

/* Without QEMU or a guest nothing of a VM replica can exist: state is
 * MISSING and remove has nothing to do (a create that failed at probe
 * leaves a row to delete, and deleting it must work). */
static int vm_remove(struct backend *b, const char *id, struct zl_err *err)
{
	struct zl_err unusable = ZL_ERR_INIT;
	struct backend *in = inner_of(b, &unusable);
	return in ? in->ops->remove(in, id, err) : 0;
}

static int vm_state(struct backend *b, const char *id, struct backend_state *st,
		    struct zl_err *err)
{
	struct zl_err unusable = ZL_ERR_INIT;
	struct backend *in = inner_of(b, &unusable);
	if (in)
		return in->ops->state(in, id, st, err);
	*st = (struct backend_state){ .status = BACKEND_STATUS_MISSING, .pid = -1,
				      .pid_start_time = -1, .exit_code = -1 };
	return 0;
}

static int vm_logs(struct backend *b, const char *id, const struct backend_log_opts *o, FILE *out,
		   struct zl_err *err)
{
	DELEGATE(-1, in->ops->logs(in, id, o, out, err));
}

static int vm_exec(struct backend *b, const char *id, char *const argv[], int *exit_code,
		   struct zl_err *err)
{
	DELEGATE(-1, in->ops->exec(in, id, argv, exit_code, err));
}

static int vm_stats(struct backend *b, const char *id, struct backend_stats *st,
		    struct zl_err *err)
{
	DELEGATE(-1, in->ops->stats(in, id, st, err));
}

static int vm_wait(struct backend *b, const char *id, int64_t timeout_ms, struct zl_err *err)
{
	DELEGATE(-1, in->ops->wait(in, id, timeout_ms, err));
}

static int vm_inspect(struct backend *b, const char *id, char **json, struct zl_err *err)
{
	DELEGATE(-1, in->ops->inspect ? in->ops->inspect(in, id, json, err) : (*json = NULL, 0));
}

static int vm_archive_logs(struct backend *b, const char *id, const char *dest_path,
			   struct zl_err *err)
{
	DELEGATE(-1, in->ops->archive_logs(in, id, dest_path, err));
}

/* The inner oci instance writes the bundle's hosts file; zlvm binds that
 * file into the guest's zlmeta share, so the guest reads the new lines. */
static int vm_set_names(struct backend *b, const char *id, const char *names, struct zl_err *err)
{
	struct zl_err unusable = ZL_ERR_INIT;
	struct backend *in = inner_of(b, &unusable);
	return in ? in->ops->set_names(in, id, names, err) : 0;
}

/* Which acceleration QEMU gets here, as zlvm decided it (once per boot). */
static char *vm_describe(struct backend *b)
{
	struct vm_ctx *c = ctx_of(b);
	if (!c->zlvm && !(c->zlvm = find_zlvm()))
		return NULL;
	const char *argv[] = { c->zlvm, "accel", NULL };
	struct zl_buf out = { 0 };
	int status = -1;
	struct zl_err err = ZL_ERR_INIT;
	char *line = NULL;
	if (zl_run(argv, -1, &out, &status, &err) == 0 && status == 0 && out.len) {
		out.data[strcspn(out.data, "\n")] = '\0';
		bool kvm = strncmp(out.data, "kvm", 3) == 0;
		const char *why = strchr(out.data, ':');
		line = zl_xasprintf("vm: QEMU with %s%s%s", kvm ? "KVM" : "TCG (software emulation)",
				    why ? ":" : "", why ? why + 1 : "");
	}
	zl_buf_free(&out);
	return line;
}

static int vm_init(struct backend *b, struct zl_err *err)
{
	(void)err;
	b->ctx = zl_xcalloc(1, sizeof(struct vm_ctx));
	return 0;
}

static void vm_destroy(struct backend *b)
{
	struct vm_ctx *c = ctx_of(b);
	if (!c)
		return;
	backend_close(c->inner);
	free(c->zlvm);
	free(c);
	b->ctx = NULL;
}

/* No held() and no leftovers(): a VM replica's directory is the oci
 * backend's (containers/<id>), which adopts and sweeps it with the
 * runtime it recorded. */
const struct backend_ops backend_vm_ops = {
	.name = "vm",
	.init = vm_init,
	.wants_network = vm_wants_network,
	.needs_images = vm_needs_images,
	.probe = vm_probe,
	.create = vm_create,
	.start = vm_start,
	.stop = vm_stop,
	.kill = vm_kill,
	.stop_begin = vm_stop_begin,
	.remove = vm_remove,
	.state = vm_state,
	.logs = vm_logs,
	.exec = vm_exec,
	.stats = vm_stats,
	.wait = vm_wait,
	.archive_logs = vm_archive_logs,
	.inspect = vm_inspect,
	.describe = vm_describe,
	.set_names = vm_set_names,
	.destroy = vm_destroy,
};
