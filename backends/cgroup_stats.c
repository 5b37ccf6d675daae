/* cgroup_stats.c: what a replica's cgroup says it uses, on cgroup v2 and
 * v1 (this project's test hosts are a v1 + v2 hybrid, most new hosts pure
 * v2). Files only, no subprocess: `stats` samples every replica each
 * second and `watch --metrics` on every scrape.
 *
 *              v2 (base<cgroup>/)              v1 (base/<controller><cgroup>/)
 *   cpu        cpu.stat usage_usec             cpuacct/cpuacct.usage (ns)
 *   memory     memory.current                  memory/memory.usage_in_bytes
 *   cache      memory.stat inactive_file       memory/memory.stat total_inactive_file
 *   limit      memory.max ("max": none)        memory/memory.limit_in_bytes (huge: none)
 *   pids       pids.current                    pids/pids.current
 *   block i/o  io.stat rbytes=, wbytes=        blkio/blkio.throttle.io_service_bytes_recursive
 *                                              (or ..._bytes): "MAJ:MIN Read|Write N"
 */
#include "supervise.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* v1 writes "no limit" as the largest page-aligned counter value. */
#define V1_UNLIMITED (INT64_C(1) << 62)

/* The first number in the file; -1 when unreadable or not a number. */
static int64_t read_int_file(const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *end = NULL;
	long long v = strtoll(buf, &end, 10);
	return end == buf ? -1 : v;
}

/* The value of key in a "key value" per line file; -1 when absent. */
static int64_t read_keyed(const char *path, const char *key)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char name[64];
	long long v;
	int64_t found = -1;
	while (fscanf(f, "%63s %lld", name, &v) == 2)
		if (strcmp(name, key) == 0) {
			found = v;
			break;
		}
	fclose(f);
	return found;
}

/* io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N ..." per device, summed. */
static void read_io_stat(const char *path, struct backend_stats *st)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	st->blkio_read_bytes = st->blkio_write_bytes = 0;
	char word[128];
	while (fscanf(f, "%127s", word) == 1) {
		long long v;
		if (sscanf(word, "rbytes=%lld", &v) == 1)
			st->blkio_read_bytes += v;
		else if (sscanf(word, "wbytes=%lld", &v) == 1)
			st->blkio_write_bytes += v;
	}
	fclose(f);
}

/* blkio.throttle.io_service_bytes*: "MAJ:MIN Read N", "MAJ:MIN Write N",
 * ..., "Total N": Read and Write summed over devices. */
static bool read_blkio_v1(const char *path, struct backend_stats *st)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	st->blkio_read_bytes = st->blkio_write_bytes = 0;
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		char dev[64], op[16];
		long long v;
		if (sscanf(line, "%63s %15s %lld", dev, op, &v) != 3)
			continue;
		if (strcmp(op, "Read") == 0)
			st->blkio_read_bytes += v;
		else if (strcmp(op, "Write") == 0)
			st->blkio_write_bytes += v;
	}
	fclose(f);
	return true;
}

/* Where a cgroup's files are. */
struct cg_where {
	const char *base;
	bool v2;
	const char *cgroup;
};

/* The path of file (of controller, on v1); false when it does not fit. */
static bool cg_path(const struct cg_where *w, const char *controller, const char *file,
		    char out[4096])
{
	int n = w->v2 ? snprintf(out, 4096, "%s%s/%s", w->base, w->cgroup, file)
		      : snprintf(out, 4096, "%s/%s%s/%s", w->base, controller, w->cgroup, file);
	return n > 0 && n < 4096;
}

static int64_t cg_int(const struct cg_where *w, const char *controller, const char *file)
{
	char path[4096];
	return cg_path(w, controller, file, path) ? read_int_file(path) : -1;
}

static int64_t cg_keyed(const struct cg_where *w, const char *controller, const char *file,
			const char *key)
{
	char path[4096];
	return cg_path(w, controller, file, path) ? read_keyed(path, key) : -1;
}

static void read_v2(const struct cg_where *w, struct backend_stats *st)
{
	int64_t usec = cg_keyed(w, "", "cpu.stat", "usage_usec");
	st->cpu_usage_ns = usec >= 0 ? usec * 1000 : -1;
	st->memory_bytes = cg_int(w, "", "memory.current");
	st->memory_cache_bytes = cg_keyed(w, "", "memory.stat", "inactive_file");
	st->memory_limit_bytes = cg_int(w, "", "memory.max"); /* "max" is no number: -1 */
	st->pids = cg_int(w, "", "pids.current");
	char path[4096];
	if (cg_path(w, "", "io.stat", path))
		read_io_stat(path, st);
}

static void read_v1(const struct cg_where *w, struct backend_stats *st)
{
	st->cpu_usage_ns = cg_int(w, "cpuacct", "cpuacct.usage");
	st->memory_bytes = cg_int(w, "memory", "memory.usage_in_bytes");
	st->memory_cache_bytes = cg_keyed(w, "memory", "memory.stat", "total_inactive_file");
	st->memory_limit_bytes = cg_int(w, "memory", "memory.limit_in_bytes");
	if (st->memory_limit_bytes >= V1_UNLIMITED)
		st->memory_limit_bytes = -1;
	st->pids = cg_int(w, "pids", "pids.current");
	char path[4096];
	if (!cg_path(w, "blkio", "blkio.throttle.io_service_bytes_recursive", path) ||
	    !read_blkio_v1(path, st)) {
		if (cg_path(w, "blkio", "blkio.throttle.io_service_bytes", path))
			read_blkio_v1(path, st);
	}
}

void supervise_cgroup_stats_at(const char *base, bool v2, const char *cgroup,
			       struct backend_stats *st)
{
	*st = BACKEND_STATS_UNKNOWN;
	if (!cgroup || cgroup[0] != '/')
		return;
	const struct cg_where w = { .base = base, .v2 = v2, .cgroup = cgroup };
	if (v2)
		read_v2(&w, st);
	else
		read_v1(&w, st);
}

void supervise_cgroup_stats(const char *cgroup, struct backend_stats *st)
{
	supervise_cgroup_stats_at("/sys/fs/cgroup", zl_cgroup2(), cgroup, st);
}
