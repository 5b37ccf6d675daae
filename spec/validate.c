/* validate.c: the rules that need more than one key: names, image
 * references, depends across services (unknown, self, cycles) with the
 * topological order the reconciler starts services in, and what a
 * WebAssembly service can have (validate_service_wasm).
 *
 * The order is Kahn's algorithm with a min-heap on file position, so ties
 * keep the order of the file and 1000 services cost O(n log n). */
#include "spec-internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

static bool is_lower_alnum(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); }
static bool is_word(char ch) { return isalnum((unsigned char)ch) || ch == '_'; }

bool deployment_name_ok(const char *name)
{
	size_t len = strlen(name);
	if (len < 3 || len > 63 || !isalnum((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-')
			return false;
	return true;
}

bool service_name_ok(const char *name)
{
	size_t len = strlen(name);
	if (len < 1 || len > 63 || !is_lower_alnum(name[0]) || !is_lower_alnum(name[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_lower_alnum(name[i]) && name[i] != '-')
			return false;
	return true;
}

/* One path component: [a-z0-9]+ joined by '.', '_', '__' or runs of '-'. */
static bool path_component_ok(const char *s, size_t len)
{
	if (!len || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (is_lower_alnum(s[i]))
			continue;
		size_t run = 0;
		while (i + run < len && !is_lower_alnum(s[i + run]))
			run++;
		bool ok = (run == 1 && (s[i] == '.' || s[i] == '_')) || (run == 2 && s[i] == '_' && s[i + 1] == '_') ||
			  strspn(s + i, "-") >= run;
		if (!ok)
			return false;
		i += run - 1;
	}
	return true;
}

static bool host_ok(const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);
	size_t hlen = colon ? (size_t)(colon - s) : len;
	if (!hlen)
		return false;
	for (size_t i = 0; i < hlen; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	if (colon) {
		size_t plen = len - hlen - 1;
		if (!plen || plen > 5)
			return false;
		for (size_t i = 0; i < plen; i++)
			if (!isdigit((unsigned char)colon[1 + i]))
				return false;
	}
	return true;
}

const char *image_ref_problem(const char *ref)
{
	if (!*ref)
		return "empty";
	/* oci:DIR[:TAG] names an OCI image layout on disk (registry/ reads it). */
	if (strncmp(ref, "oci:", 4) == 0)
		return ref[4] ? NULL : "oci: needs a directory (oci:DIR[:TAG])";
	/* file:PATH names a WebAssembly module on disk (registry/ checks it). */
	if (strncmp(ref, "file:", 5) == 0)
		return ref[5] ? NULL : "file: needs a path (file:PATH.wasm)";
	if (strlen(ref) > 1024)
		return "longer than 1024 characters";
	const char *at = strchr(ref, '@');
	size_t name_len = at ? (size_t)(at - ref) : strlen(ref);
	if (at) {
		const char *d = at + 1;
		if (strncmp(d, "sha256:", 7) || strlen(d + 7) != 64 ||
		    strspn(d + 7, "0123456789abcdef") != 64)
			return "the digest must be sha256:<64 lowercase hex digits>";
	}
	/* The tag is after the last ':' that follows the last '/'. */
	const char *tag = NULL;
	for (const char *p = ref; p < ref + name_len; p++) {
		if (*p == '/')
			tag = NULL;
		else if (*p == ':')
			tag = p;
	}
	size_t repo_len = name_len;
	if (tag) {
		size_t tlen = (size_t)(ref + name_len - tag - 1);
		if (!tlen || tlen > 128 || !is_word(tag[1]))
			return "the tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
		for (size_t i = 1; i <= tlen; i++)
			if (!is_word(tag[i]) && tag[i] != '.' && tag[i] != '-')
				return "the tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
		repo_len = (size_t)(tag - ref);
	}
	const char *p = ref, *end = ref + repo_len;
	const char *first_end = memchr(p, '/', repo_len);
	if (first_end) {
		size_t flen = (size_t)(first_end - p);
		bool is_host = memchr(p, '.', flen) || memchr(p, ':', flen) ||
			       (flen == 9 && !strncmp(p, "localhost", 9));
		if (is_host) {
			if (!host_ok(p, flen))
				return "invalid registry host";
			p = first_end + 1;
		}
	}
	if (p >= end)
		return "missing the repository path";
	while (p < end) {
		const char *next = memchr(p, '/', (size_t)(end - p));
		size_t clen = next ? (size_t)(next - p) : (size_t)(end - p);
		if (!path_component_ok(p, clen))
			return "path components must be lowercase [a-z0-9] separated by '.', '_' or '-'";
		p += clen + (next ? 1 : 0);
		if (next && p >= end)
			return "the path ends with '/'";
	}
	return NULL;
}

/* ---- depends ---- */

struct name_ref {
	const char *name;
	size_t index;
};

static int name_ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_ref *)a)->name, ((const struct name_ref *)b)->name);
}

static void heap_push(size_t *heap, size_t *len, size_t v)
{
	size_t i = (*len)++;
	heap[i] = v;
	while (i && heap[(i - 1) / 2] > heap[i]) {
		size_t parent = (i - 1) / 2, tmp = heap[parent];
		heap[parent] = heap[i], heap[i] = tmp, i = parent;
	}
}

static size_t heap_pop(size_t *heap, size_t *len)
{
	size_t top = heap[0];
	heap[0] = heap[--*len];
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < *len && heap[l] < heap[m])
			m = l;
		if (r < *len && heap[r] < heap[m])
			m = r;
		if (m == i)
			break;
		size_t tmp = heap[m];
		heap[m] = heap[i], heap[i] = tmp, i = m;
	}
	return top;
}

static void depends_diag(struct pctx *c, const struct spec_service *svc, size_t k, const char *fmt, const char *a)
	__attribute__((format(printf, 4, 0)));
static void depends_diag(struct pctx *c, const struct spec_service *svc, size_t k, const char *fmt, const char *a)
{
	char *path = zl_xasprintf("services.%s.depends[%zu].service", svc->name, k);
	char *msg = NULL;
	/* fmt is one of this file's literals with one %s. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	if (asprintf(&msg, fmt, a) < 0)
		abort();
#pragma GCC diagnostic pop
	spec_diags_add(c->diags, false, c->file, svc->depends[k].line, svc->depends[k].col, path, "%s", msg);
	free(msg);
	free(path);
}

void validate_deployment(struct pctx *c, struct spec_deployment *dep)
{
	size_t n = dep->service_count;
	if (n == 0)
		return;
	struct name_ref *names = zl_xcalloc(n, sizeof(*names));
	for (size_t i = 0; i < n; i++)
		names[i] = (struct name_ref){ dep->services[i].name, i };
	qsort(names, n, sizeof(*names), name_ref_cmp);

	/* dep_of[e] = the service edge e depends on; edges of service i are
	 * edge_start[i] .. edge_start[i + 1]. */
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += dep->services[i].depend_count;
	size_t *edge_start = zl_xcalloc(n + 1, sizeof(size_t));
	size_t *dep_of = zl_xcalloc(total + 1, sizeof(size_t));
	size_t *edge_k = zl_xcalloc(total + 1, sizeof(size_t));
	size_t *indeg = zl_xcalloc(n, sizeof(size_t));
	size_t edges = 0;
	for (size_t i = 0; i < n; i++) {
		const struct spec_service *svc = &dep->services[i];
		edge_start[i] = edges;
		for (size_t k = 0; k < svc->depend_count; k++) {
			const char *target = svc->depends[k].service;
			struct name_ref key = { target, 0 };
			struct name_ref *hit = bsearch(&key, names, n, sizeof(*names), name_ref_cmp);
			if (!strcmp(target, svc->name)) {
				depends_diag(c, svc, k, "service \"%s\" cannot depend on itself", target);
			} else if (!hit) {
				/* A suggestion is at most 2 edits away: names differing
				 * more in length are not compared, and the cells budget
				 * keeps thousands of unknown names linear to check. */
				const char *best = NULL;
				size_t best_d = SIZE_MAX, tlen = strnlen(target, 65);
				for (size_t j = 0; j < n && tlen <= 64; j++) {
					const char *name = dep->services[j].name;
					size_t nlen = strnlen(name, tlen + 3);
					bool near = nlen <= tlen + 2 && tlen <= nlen + 2;
					size_t cells = 1 + (near ? (tlen + 1) * (nlen + 1) : 0);
					if (cells > c->suggest_cells) {
						best = NULL;
						break;
					}
					c->suggest_cells -= cells;
					if (!near)
						continue;
					size_t d = zl_edit_distance(target, name);
					if (d < best_d)
						best_d = d, best = name;
				}
				if (best && best_d <= 2) {
					char *msg = zl_xasprintf("unknown service \"%s\" (did you mean \"%s\"?)", target, best);
					depends_diag(c, svc, k, "%s", msg);
					free(msg);
				} else {
					depends_diag(c, svc, k, "unknown service \"%s\" (not in this deployment)", target);
				}
			} else {
				dep_of[edges] = hit->index;
				edge_k[edges] = k;
				edges++;
				indeg[i]++;
			}
		}
	}
	edge_start[n] = edges;

	/* Reverse edges: who waits for service j. */
	size_t *rstart = zl_xcalloc(n + 1, sizeof(size_t));
	size_t *rev = zl_xcalloc(edges + 1, sizeof(size_t));
	for (size_t e = 0; e < edges; e++)
		rstart[dep_of[e] + 1]++;
	for (size_t j = 0; j < n; j++)
		rstart[j + 1] += rstart[j];
	size_t *fill = zl_xcalloc(n + 1, sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		for (size_t e = edge_start[i]; e < edge_start[i + 1]; e++)
			rev[rstart[dep_of[e]] + fill[dep_of[e]]++] = i;

	size_t *heap = zl_xcalloc(n, sizeof(size_t));
	size_t heap_len = 0;
	size_t *order = zl_xcalloc(n, sizeof(size_t));
	size_t ordered = 0;
	bool *done = zl_xcalloc(n, sizeof(bool));
	for (size_t i = 0; i < n; i++)
		if (indeg[i] == 0)
			heap_push(heap, &heap_len, i);
	while (heap_len) {
		size_t j = heap_pop(heap, &heap_len);
		order[ordered++] = j;
		done[j] = true;
		for (size_t r = rstart[j]; r < rstart[j + 1]; r++)
			if (--indeg[rev[r]] == 0)
				heap_push(heap, &heap_len, rev[r]);
	}

	if (ordered < n) {
		/* Every service left waits for another one left: following the
		 * first such edge from any of them must come back to a cycle. */
		size_t *visit = zl_xcalloc(n, sizeof(size_t)); /* walk number + 1 */
		size_t *step = zl_xcalloc(n, sizeof(size_t));  /* position in the walk */
		size_t *walk = zl_xcalloc(n + 1, sizeof(size_t));
		size_t *walk_edge = zl_xcalloc(n + 1, sizeof(size_t));
		for (size_t s = 0, walks = 0; s < n; s++) {
			if (done[s] || visit[s])
				continue;
			walks++;
			size_t len = 0, v = s;
			while (!visit[v]) {
				visit[v] = walks;
				step[v] = len;
				size_t e = edge_start[v];
				while (done[dep_of[e]])
					e++;
				walk[len] = v;
				walk_edge[len++] = e;
				v = dep_of[e];
			}
			if (visit[v] != walks)
				continue; /* ran into a cycle already reported */
			struct zl_buf msg = { 0 };
			zl_buf_puts(&msg, "dependency cycle: ");
			for (size_t i = step[v]; i < len; i++)
				zl_buf_printf(&msg, "%s -> ", dep->services[walk[i]].name);
			zl_buf_puts(&msg, dep->services[v].name);
			const struct spec_service *first = &dep->services[v];
			depends_diag(c, first, edge_k[walk_edge[step[v]]], "%s", msg.data);
			zl_buf_free(&msg);
		}
		free(visit);
		free(step);
		free(walk);
		free(walk_edge);
		for (size_t i = 0; i < n; i++)
			if (!done[i])
				order[ordered++] = i;
	}

	struct spec_service *sorted = zl_xcalloc(n + 1, sizeof(*sorted));
	for (size_t i = 0; i < n; i++)
		sorted[i] = dep->services[order[i]];
	free(dep->services);
	dep->services = sorted;

	free(names);
	free(edge_start);
	free(dep_of);
	free(edge_k);
	free(indeg);
	free(rstart);
	free(rev);
	free(fill);
	free(heap);
	free(order);
	free(done);

	/* The name index over the final order. */
	struct name_ref *byname = zl_xcalloc(n, sizeof(*byname));
	for (size_t i = 0; i < n; i++)
		byname[i] = (struct name_ref){ dep->services[i].name, i };
	qsort(byname, n, sizeof(*byname), name_ref_cmp);
	free(dep->by_name);
	dep->by_name = zl_xcalloc(n, sizeof(*dep->by_name));
	for (size_t i = 0; i < n; i++)
		dep->by_name[i] = byname[i].index;
	free(byname);
}

/* ---- WebAssembly: service_type and the wasm: block ---- */

/* An error (note) at the value of the key path below the current one;
 * keys is NULL-terminated, the last key's value is where it points (or the
 * deepest node found). */
static void wasm_diag(struct pctx *c, bool note, yaml_node_t *n, const char *const *keys, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void wasm_diag(struct pctx *c, bool note, yaml_node_t *n, const char *const *keys, const char *fmt, ...)
{
	size_t old = c->path.len;
	yaml_node_t *at = n;
	for (const char *const *k = keys; *k; k++) {
		path_push_key(c, *k);
		yaml_node_t *v = map_get(c, at, *k);
		if (v)
			at = v;
	}
	va_list ap;
	va_start(ap, fmt);
	char *msg = zl_xvasprintf(fmt, ap);
	va_end(ap);
	if (note)
		pnote(c, at, "%s", msg);
	else
		perr(c, at, "%s", msg);
	free(msg);
	path_pop(c, old);
}

/* The key the wasm block was read from: the first of wasm / wasm_http
 * with a value (a second one was refused while parsing). */
static const char *wasm_key(struct pctx *c, yaml_node_t *n)
{
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = node_scalar(ynode(c, p->key));
		yaml_node_t *v = ynode(c, p->value);
		if (k && (!strcmp(k, "wasm") || !strcmp(k, "wasm_http")) && v && !node_is_null(v))
			return k;
	}
	return "wasm";
}

/* "/a//b/" and "/a/b" name the same guest directory. */
static char *guest_path_norm(const char *s)
{
	char *out = zl_xstrdup(s), *w = out;
	for (const char *r = s; *r; r++)
		if (*r != '/' || w == out || w[-1] != '/')
			*w++ = *r;
	while (w > out + 1 && w[-1] == '/')
		w--;
	*w = '\0';
	return out;
}

#define NODE_WASI "zlapply runs WebAssembly with Node.js's node:wasi (WASI preview 1)"

/* Directories (preopens, storage) for a module without the filesystem
 * capability: at node seq, whose key is what (for the advice). */
static void no_filesystem(struct pctx *c, yaml_node_t *n, const struct spec_service *svc, yaml_node_t *seq,
			  const char *what)
{
	const char *key = wasm_key(c, n);
	if (svc->wasm.has_capabilities && map_get(c, map_get(c, map_get(c, n, key), "capabilities"), "filesystem"))
		perr(c, seq, "the module may not see directories: capabilities.filesystem is false; "
			     "set it to true or remove the %s", what);
	else if (svc->wasm.has_capabilities)
		perr(c, seq, "the module may not see directories: capabilities leaves out filesystem, which "
			     "makes it false; add filesystem: true or remove the %s", what);
	else
		perr(c, seq, "the module may not see directories: service_type %s has no filesystem capability "
			     "(ZLayer's default for the type); add capabilities: { filesystem: true } or remove the %s",
		     spec_service_type_name(svc->service_type), what);
}

static void validate_preopens(struct pctx *c, yaml_node_t *n, const char *key, struct spec_service *svc)
{
	const struct spec_wasm *w = &svc->wasm;
	yaml_node_t *seq = map_get(c, map_get(c, n, key), "preopens");
	if (!seq || seq->type != YAML_SEQUENCE_NODE || !w->preopen_count)
		return;
	size_t old = path_push_key(c, key);
	path_push_key(c, "preopens");
	if (!w->filesystem)
		no_filesystem(c, n, svc, seq, "preopens");
	char **norm = zl_xcalloc(w->preopen_count + 1, sizeof(char *));
	struct str_index seen = { 0 };
	for (size_t i = 0; i < w->preopen_count; i++) {
		const struct spec_wasm_preopen *p = &w->preopens[i];
		yaml_node_t *item = ynode(c, seq->data.sequence.items.start[i]);
		size_t o2 = path_push_index(c, i);
		if (p->source && p->source[0] != '/') {
			size_t o3 = path_push_key(c, "source");
			perr(c, map_get(c, item, "source"), "expected an absolute host path, got \"%s\"", p->source);
			path_pop(c, o3);
		}
		if (p->target && p->target[0] != '/') {
			size_t o3 = path_push_key(c, "target");
			perr(c, map_get(c, item, "target"), "expected an absolute guest path (the path the module sees), got \"%s\"",
			     p->target);
			path_pop(c, o3);
		} else if (p->target) {
			norm[i] = guest_path_norm(p->target);
			size_t j = str_index_first(&seen, norm[i], i);
			if (j != SIZE_MAX) {
				size_t o3 = path_push_key(c, "target");
				perr(c, map_get(c, item, "target"), "duplicate preopen target \"%s\" (also preopens[%zu])",
				     p->target, j);
				path_pop(c, o3);
			}
		}
		path_pop(c, o2);
	}
	str_index_free(&seen);
	for (size_t i = 0; i < w->preopen_count; i++)
		free(norm[i]);
	free(norm);
	path_pop(c, old);
}

/* isolation: vm runs a container image in a VM of its own: what would
 * share the host's kernel objects with it cannot be had there. */
void validate_service_isolation(struct pctx *c, yaml_node_t *n, struct spec_service *svc)
{
	if (svc->isolation != SPEC_ISOLATION_VM)
		return;
	yaml_node_t *at = map_get(c, n, "isolation");
	const char *why = NULL;
	if (spec_service_declares_wasm(svc))
		why = "a WebAssembly service runs on the wasm backend, not in a VM: drop isolation: vm";
	else if (svc->network_mode && (!strcmp(svc->network_mode, "host") ||
				       !strncmp(svc->network_mode, "container:", 10)))
		why = "a VM has a network of its own: network_mode host or container:... cannot be shared with it";
	else if (svc->pid_mode || svc->ipc_mode)
		why = "a VM has its own kernel: pid_mode and ipc_mode cannot join the host's or another replica's";
	else if (svc->device_count)
		why = "host devices are not passed into a VM replica";
	else if (svc->privileged)
		why = "privileged gives a container the host's devices and capabilities; a VM replica has neither: drop privileged";
	if (why && at) {
		size_t old = path_push_key(c, "isolation");
		perr(c, at, "%s", why);
		path_pop(c, old);
	}
}

void validate_service_wasm(struct pctx *c, yaml_node_t *n, struct spec_service *svc)
{
	struct spec_wasm *w = &svc->wasm;
	/* ZLayer gives the filesystem capability by default to wasm_plugin
	 * only among the wasm_* types; other services are not restricted. */
	if (w->has_capabilities)
		w->filesystem = w->cap_filesystem;
	else if (spec_service_type_is_wasm(svc->service_type))
		w->filesystem = svc->service_type == SPEC_SERVICE_TYPE_WASM_PLUGIN;
	else
		w->filesystem = true;

	if (svc->service_type == SPEC_SERVICE_TYPE_JOB && svc->rtype == SPEC_RTYPE_SERVICE)
		wasm_diag(c, true, n, (const char *const[]){ "service_type", NULL },
			  "service_type job changes nothing (nor in ZLayer): a service runs to completion with rtype: job");

	if (w->present) {
		const char *key = wasm_key(c, n);
		if (w->max_memory >= 0 && w->max_memory < 65536)
			wasm_diag(c, false, n, (const char *const[]){ key, "max_memory", NULL },
				  "%s is less than 64Ki: WebAssembly memory comes in 64 KiB pages, so a smaller cap "
				  "could not hold one page",
				  node_scalar(map_get(c, map_get(c, n, key), "max_memory")));
		if (w->has_max_fuel)
			wasm_diag(c, false, n, (const char *const[]){ key, "max_fuel", NULL },
				  "not supported: " NODE_WASI ", which has no fuel metering; bound CPU with resources.cpu "
				  "and a job's run time with \"zlapply run JOB --timeout D\" (max_fuel: 0, unlimited, is accepted)");
		if (w->has_epoch_interval)
			wasm_diag(c, false, n, (const char *const[]){ key, "epoch_interval", NULL },
				  "not supported: " NODE_WASI ", which has no epoch interruption; bound CPU with "
				  "resources.cpu and a job's run time with \"zlapply run JOB --timeout D\"");
		if (w->has_request_timeout)
			wasm_diag(c, false, n, (const char *const[]){ key, "request_timeout", NULL },
				  "not supported: " NODE_WASI ", which handles no HTTP requests: a module runs as a "
				  "command, from _start to its exit; bound a job's run time with \"zlapply run JOB --timeout D\"");
		static const char *const pool_keys[] = { "min_instances", "max_instances", "idle_timeout" };
		const bool pool[] = { w->has_min_instances, w->has_max_instances, w->has_idle_timeout };
		for (size_t i = 0; i < 3; i++)
			if (pool[i])
				wasm_diag(c, false, n, (const char *const[]){ key, pool_keys[i], NULL },
					  "not supported: zlapply runs each replica's module once, as a command under "
					  "Node.js's node:wasi; there is no pool of request-serving instances to size "
					  "(the replica count is \"scale\")");
		if (w->allow_tcp)
			wasm_diag(c, false, n, (const char *const[]){ key, "allow_tcp", NULL },
				  "not supported: " NODE_WASI ", which has no sockets (allow_tcp: false is accepted)");
		if (w->allow_udp)
			wasm_diag(c, false, n, (const char *const[]){ key, "allow_udp", NULL },
				  "not supported: " NODE_WASI ", which has no sockets (allow_udp: false is accepted)");
		if (w->cap_sockets)
			wasm_diag(c, false, n, (const char *const[]){ key, "capabilities", "sockets", NULL },
				  "not supported: " NODE_WASI ", which has no sockets");
		if (w->cap_http_client)
			wasm_diag(c, false, n, (const char *const[]){ key, "capabilities", "http_client", NULL },
				  "not supported: " NODE_WASI ", which has no HTTP client (wasi:http)");
		validate_preopens(c, n, key, svc);
	}

	if (!spec_service_declares_wasm(svc))
		return;
	char *why;
	if (spec_service_type_is_wasm(svc->service_type))
		why = zl_xasprintf("service_type is %s", spec_service_type_name(svc->service_type));
	else if (w->present)
		why = zl_xasprintf("it has a %s block", wasm_key(c, n));
	else
		why = zl_xasprintf("its image is a file: module");
	if (svc->endpoint_count)
		wasm_diag(c, false, n, (const char *const[]){ "endpoints", NULL },
			  "a WebAssembly service cannot have endpoints: WASI preview 1 (node:wasi) has no sockets, "
			  "so its replicas get no network address (the service is WebAssembly: %s)", why);
	if (svc->port_mapping_count)
		wasm_diag(c, false, n, (const char *const[]){ "port_mappings", NULL },
			  "a WebAssembly service cannot publish ports: WASI preview 1 (node:wasi) has no sockets, "
			  "so its replicas get no network address (the service is WebAssembly: %s)", why);
	/* Storage reaches a module as directories too (ZLayer preopens bind
	 * and named volumes, and skips them without the capability). */
	yaml_node_t *storage = map_get(c, n, "storage");
	if (svc->storage_count && !w->filesystem && storage) {
		size_t old = path_push_key(c, "storage");
		no_filesystem(c, n, svc, storage, "storage");
		path_pop(c, old);
	}
	if (svc->health.present && svc->health.check == SPEC_CHECK_COMMAND)
		wasm_diag(c, false, n, (const char *const[]){ "health", "check", "type", NULL },
			  "a WebAssembly service cannot have a command health check: a module has no processes "
			  "or shell to run a command in (the service is WebAssembly: %s); its exit is what is "
			  "watched, and restart_policy acts on it", why);
	else if (svc->health.present && svc->health.check != SPEC_CHECK_NONE)
		wasm_diag(c, false, n, (const char *const[]){ "health", "check", "type", NULL },
			  "a WebAssembly service cannot have %s health check: its replicas have no network address "
			  "to probe (WASI preview 1 has no sockets; the service is WebAssembly: %s)",
			  svc->health.check == SPEC_CHECK_TCP ? "a tcp" : "an http", why);
	free(why);
}

/* ---- rules shared with the backends (declared in spec.h) ---- */

static bool has_dot_component(const char *t)
{
	for (const char *p = t; *p;) {
		while (*p == '/')
			p++;
		size_t len = strcspn(p, "/");
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return true;
		p += len;
	}
	return false;
}

bool spec_container_path_ok(const char *t)
{
	return t && t[0] == '/' && t[strspn(t, "/")] && !has_dot_component(t);
}

const char *spec_hostname_problem(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	if (len == 0 || len > 64)
		return "expected 1..64 characters";
	if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != len)
		return "expected letters, digits, '.', '-' and '_'";
	return NULL;
}

const char *spec_device_path_problem(const char *path)
{
	if (!path || strncmp(path, "/dev/", 5) || !path[5 + strspn(path + 5, "/")])
		return "expected a device path under /dev/";
	if (has_dot_component(path))
		return "expected a device path under /dev/ without . or .. components";
	return NULL;
}

/* NULL: not a number; else whether it fits 0..UINT32_MAX-1 ((uid_t)-1 is
 * "no id" to the kernel). */
static const char *id_problem(const char *s, size_t len)
{
	size_t start = s[0] == '-' ? 1 : 0;
	if (len <= start || strspn(s + start, "0123456789") < len - start)
		return NULL;
	if (start)
		return "a numeric id cannot be negative";
	unsigned long long v = 0;
	for (size_t i = 0; i < len; i++) {
		v = v * 10 + (unsigned long long)(s[i] - '0');
		if (v >= 4294967295ULL)
			return "a numeric id must be 0..4294967294";
	}
	return NULL;
}

const char *spec_user_problem(const char *user)
{
	if (!user || !*user)
		return NULL; /* the image's USER, else root */
	const char *colon = strchr(user, ':');
	size_t ulen = colon ? (size_t)(colon - user) : strlen(user);
	if (!ulen || (colon && (!colon[1] || strchr(colon + 1, ':'))))
		return "expected uid[:gid] or name[:group]";
	const char *why = id_problem(user, ulen);
	if (!why && colon)
		why = id_problem(colon + 1, strlen(colon + 1));
	return why;
}

const char *spec_ns_mode_problem(const char *key, const char *mode)
{
	if (!mode || !*mode || !strcmp(mode, "host"))
		return NULL;
	if (!strcmp(key, "pid_mode"))
		return strcmp(mode, "private") ? "not supported (expected host or private)" : NULL;
	if (!strcmp(key, "ipc_mode"))
		return strcmp(mode, "private") && strcmp(mode, "shareable")
			       ? "not supported (expected host, private or shareable)"
			       : NULL;
	return "not supported (containers share the host's user namespace)";
}

const char *spec_sysctl_problem(const struct spec_service *svc, const char *k)
{
	static const char *const ipc[] = {
		"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
		"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
	};
	bool is_ipc = !strncmp(k, "fs.mqueue.", 10);
	for (size_t j = 0; j < sizeof(ipc) / sizeof(ipc[0]); j++)
		is_ipc |= !strcmp(k, ipc[j]);
	bool is_net = !strncmp(k, "net.", 4);
	if (!is_ipc && !is_net)
		return "not a namespaced sysctl; a container cannot set it";
	if (is_net && svc->network_mode && !strcmp(svc->network_mode, "host"))
		return "cannot be set with network_mode host";
	if (is_ipc && svc->ipc_mode && !strcmp(svc->ipc_mode, "host"))
		return "cannot be set with ipc_mode host";
	return NULL;
}

const char *spec_command_problem(const struct spec_service *svc)
{
	/* Decision 4: an explicit empty entrypoint clears the image's, an
	 * explicit args list replaces its Cmd; with both empty nothing runs,
	 * whatever the image says. */
	if (svc->has_entrypoint && svc->entrypoint.count == 0 && svc->has_args && svc->args.count == 0)
		return "no command: entrypoint and args are both empty, which clears the image's too";
	if (svc->has_entrypoint && svc->entrypoint.count > 0 && !svc->entrypoint.items[0][0])
		return "the program to run (first argument) is empty";
	if (svc->has_entrypoint && svc->entrypoint.count == 0 && svc->has_args && !svc->args.items[0][0])
		return "the program to run (first argument) is empty";
	return NULL;
}

/* An error at keys[0].keys[1]... under n: an entry "#i" is index i. */
static void rule_diag(struct pctx *c, yaml_node_t *n, const char *const *keys, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void rule_diag(struct pctx *c, yaml_node_t *n, const char *const *keys, const char *fmt, ...)
{
	size_t old = c->path.len;
	yaml_node_t *at = n;
	for (const char *const *k = keys; *k; k++) {
		yaml_node_t *v = NULL;
		if ((*k)[0] == '#') {
			size_t i = (size_t)strtoul(*k + 1, NULL, 10);
			path_push_index(c, i);
			if (at && at->type == YAML_SEQUENCE_NODE &&
			    i < (size_t)(at->data.sequence.items.top - at->data.sequence.items.start))
				v = ynode(c, at->data.sequence.items.start[i]);
		} else {
			path_push_key(c, *k);
			v = at && at->type == YAML_MAPPING_NODE ? map_get(c, at, *k) : NULL;
		}
		if (v)
			at = v;
	}
	va_list ap;
	va_start(ap, fmt);
	char *msg = zl_xvasprintf(fmt, ap);
	va_end(ap);
	perr(c, at, "%s", msg);
	free(msg);
	path_pop(c, old);
}

/* The ulimits table is in RLIMIT_* order (spec_ulimit_resource). */
_Static_assert(RLIMIT_NOFILE == 7 && RLIMIT_RTTIME == 15, "ulimit names follow RLIMIT_* numbers");

static bool host_checks;

void spec_set_host_checks(bool enabled)
{
	host_checks = enabled;
}

/* What the oci backend would refuse on this host (common/host.c). */
static void validate_host(struct pctx *c, yaml_node_t *n, const struct spec_service *svc, const char *cap_key)
{
	char idx[24];
	uint64_t bounding;
	/* /proc/self/status is read only for a service that adds capabilities:
	 * once per service it was a tenth of a no-op apply of 5,000 services. */
	if (!svc->privileged && svc->cap_add.count > 0 && zl_own_caps("CapBnd", &bounding)) {
		for (size_t i = 0; i < svc->cap_add.count; i++) {
			int cap = spec_capability_index(svc->cap_add.items[i]);
			snprintf(idx, sizeof(idx), "#%zu", i);
			if (cap >= 0 && !(bounding & (UINT64_C(1) << cap)))
				rule_diag(c, n, (const char *const[]){ cap_key, idx, NULL },
					  "CAP_%s is not available to zlapply on this host (not in its bounding set)",
					  spec_capability_name(cap));
		}
	}
	for (size_t i = 0; i < svc->ulimit_count; i++) {
		const struct spec_ulimit *u = &svc->ulimits[i];
		int res = spec_ulimit_resource(u->name);
		uint64_t room = res < 0 ? UINT64_MAX : zl_rlimit_grantable(res);
		if ((uint64_t)u->hard <= room)
			continue;
		char hard[32] = "unlimited";
		if (u->hard != -1)
			snprintf(hard, sizeof(hard), "%" PRId64, u->hard);
		rule_diag(c, n, (const char *const[]){ "ulimits", u->name, NULL },
			  "hard limit %s is above %" PRIu64 ", the most this host lets zlapply grant (no CAP_SYS_RESOURCE)",
			  hard, room);
	}
	int adj = svc->resources.oom_score_adj, own;
	if (adj && adj < (own = zl_own_oom_score_adj()) && !zl_have_cap_sys_resource())
		rule_diag(c, n, (const char *const[]){ "resources", "oom_score_adj", NULL },
			  "%d is below zlapply's own %d, which needs CAP_SYS_RESOURCE", adj, own);
	for (size_t i = 0; i < svc->storage_count; i++) {
		const struct spec_storage *st = &svc->storage[i];
		struct stat sb;
		if (st->type != SPEC_STORAGE_BIND || !st->source || st->source[0] != '/')
			continue;
		snprintf(idx, sizeof(idx), "#%zu", i);
		const char *const keys[] = { "storage", idx, "source", NULL };
		if (stat(st->source, &sb) < 0)
			rule_diag(c, n, keys, "bind source %s: %s on this host", st->source,
				  errno == ENOENT ? "does not exist" : strerror(errno));
		/* A container may bind any kind (a socket such as /dev/log is
		 * common; mounting reads nothing); a module sees directories. */
		else if (!S_ISDIR(sb.st_mode) && spec_service_declares_wasm(svc))
			rule_diag(c, n, keys, "bind source %s is not a directory (a WASM module is given directories only)",
				  st->source);
	}
	for (size_t i = 0; i < svc->device_count; i++) {
		const struct spec_device *d = &svc->devices[i];
		struct stat sb;
		if (!d->path || spec_device_path_problem(d->path))
			continue;
		snprintf(idx, sizeof(idx), "#%zu", i);
		const char *const keys[] = { "devices", idx, "path", NULL };
		if (stat(d->path, &sb) < 0)
			rule_diag(c, n, keys, "device %s: %s on this host", d->path,
				  errno == ENOENT ? "does not exist" : strerror(errno));
		else if (!S_ISCHR(sb.st_mode) && !S_ISBLK(sb.st_mode))
			rule_diag(c, n, keys, "%s is not a device but %s", d->path, zl_file_kind(sb.st_mode));
	}
}

static void validate_caps(struct pctx *c, yaml_node_t *n, const struct spec_strv *list, const char *key)
{
	char idx[24];
	for (size_t i = 0; i < list->count; i++) {
		snprintf(idx, sizeof(idx), "#%zu", i);
		if (spec_capability_index(list->items[i]) == -1)
			rule_diag(c, n, (const char *const[]){ key, idx, NULL },
				  "unknown capability \"%s\" (expected a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL)",
				  list->items[i]);
	}
}

struct want_port {
	bool v6, udp;
	uint32_t ip;
	int port, target;
};

void validate_service_rules(struct pctx *c, yaml_node_t *n, struct spec_service *svc)
{
	const char *why = spec_command_problem(svc);
	if (why)
		rule_diag(c, n, (const char *const[]){ "command", NULL }, "%s", why);

	char idx[24], buf[256];
	const char *key = spec_resources_problem(svc, buf, sizeof(buf));
	if (key)
		rule_diag(c, n, (const char *const[]){ "resources", key, NULL }, "%s", buf);
	const char *cap_key = map_get(c, n, "cap_add") ? "cap_add" : "capabilities";
	validate_caps(c, n, &svc->cap_add, cap_key);
	validate_caps(c, n, &svc->cap_drop, "cap_drop");
	for (size_t i = 0; i < svc->security_opt.count; i++) {
		snprintf(idx, sizeof(idx), "#%zu", i);
		if ((why = spec_security_opt_problem(svc->security_opt.items[i])))
			rule_diag(c, n, (const char *const[]){ "security_opt", idx, NULL }, "%s, got \"%s\"", why,
				  svc->security_opt.items[i]);
	}
	if (host_checks)
		validate_host(c, n, svc, cap_key);
	for (size_t i = 0; i < svc->device_count; i++) {
		const struct spec_device *d = &svc->devices[i];
		snprintf(idx, sizeof(idx), "#%zu", i);
		if (d->path && !d->read && !d->write && !d->mknod)
			rule_diag(c, n, (const char *const[]){ "devices", idx, NULL },
				  "%s allows nothing (set read, write or mknod)", d->path);
	}
	for (size_t i = 0; i < svc->sysctl_count; i++)
		if ((why = spec_sysctl_problem(svc, svc->sysctls[i].key)))
			rule_diag(c, n, (const char *const[]){ "sysctls", svc->sysctls[i].key, NULL }, "%s", why);
	for (size_t i = 0; i < svc->storage_count; i++) {
		const struct spec_storage *st = &svc->storage[i];
		snprintf(idx, sizeof(idx), "#%zu", i);
		if (st->type == SPEC_STORAGE_S3)
			rule_diag(c, n, (const char *const[]){ "storage", idx, "type", NULL },
				  "storage type s3 is not supported: no backend of zlapply mounts buckets (mount it on the host and use type bind)");
		if (st->type != SPEC_STORAGE_BIND || !st->source)
			continue;
		if (st->source[0] != '/')
			rule_diag(c, n, (const char *const[]){ "storage", idx, "source", NULL },
				  "expected an absolute host path, got \"%s\"", st->source);
	}

	/* Published ports (bridge networking only): one host port cannot lead
	 * to two container ports; 0.0.0.0:P covers 127.0.0.1:P. */
	const char *mode = svc->network_mode;
	if (mode && strcmp(mode, "default") && strcmp(mode, "bridge") && strncmp(mode, "bridge:", 7))
		return;
	size_t total = svc->endpoint_count + svc->port_mapping_count;
	struct want_port *w = zl_xcalloc(total + 1, sizeof(*w));
	for (size_t i = 0; i < total; i++) {
		bool ep = i < svc->endpoint_count;
		size_t k = ep ? i : i - svc->endpoint_count;
		struct want_port p = { 0 };
		if (ep) {
			const struct spec_endpoint *e = &svc->endpoints[k];
			p.ip = e->expose == SPEC_EXPOSE_PUBLIC ? 0 : 0x7f000001;
			p.port = e->port;
			p.target = e->target_port > 0 ? e->target_port : e->port;
			p.udp = e->protocol && !strcmp(e->protocol, "udp");
		} else {
			const struct spec_port_mapping *m = &svc->port_mappings[k];
			struct in_addr a;
			p.port = m->host_port;
			p.target = m->container_port;
			p.udp = m->protocol && !strcmp(m->protocol, "udp");
			if (m->host_ip && inet_pton(AF_INET, m->host_ip, &a) == 1)
				p.ip = ntohl(a.s_addr);
			else
				p.v6 = true;
		}
		w[i] = p;
		snprintf(idx, sizeof(idx), "#%zu", k);
		const char *const ep_keys[] = { "endpoints", idx, "port", NULL };
		const char *const pm_keys[] = { "port_mappings", idx, "host_port", NULL };
		if (p.v6)
			continue; /* the backend that publishes says whether it can */
		if (!p.port)
			continue; /* ephemeral: picked free */
		for (size_t j = 0; j < i; j++) {
			const struct want_port *q = &w[j];
			if (q->v6 || !q->port || q->port != p.port || q->udp != p.udp ||
			    (q->ip != p.ip && q->ip && p.ip) || q->target == p.target)
				continue;
			bool qep = j < svc->endpoint_count;
			size_t qk = qep ? j : j - svc->endpoint_count;
			rule_diag(c, n, ep ? ep_keys : pm_keys,
				  "host port %d/%s is published twice, to %d and %d (also %s[%zu])", p.port,
				  p.udp ? "udp" : "tcp", q->target, p.target, qep ? "endpoints" : "port_mappings", qk);
			break;
		}
	}
	free(w);
}

/* ---- resources, security_opt and capabilities ---- */

void spec_format_memory(int64_t bytes, char out[32])
{
	static const char *const units[] = { "Ti", "Gi", "Mi", "Ki" };
	for (int i = 0; i < 4; i++) {
		int64_t unit = (int64_t)1 << (10 * (4 - i));
		if (bytes >= unit && bytes % unit == 0) {
			snprintf(out, 32, "%" PRId64 "%s", bytes / unit, units[i]);
			return;
		}
	}
	snprintf(out, 32, "%" PRId64 " bytes", bytes);
}

const char *spec_resources_problem(const struct spec_service *svc, char *buf, size_t len)
{
	const struct spec_resources *r = &svc->resources;
	char a[32], b[32];
	bool wasm = spec_service_declares_wasm(svc);
	int64_t min = wasm ? SPEC_MIN_WASM_MEMORY : SPEC_MIN_MEMORY;
	if (r->memory_bytes < 0 || (r->memory_bytes > 0 && r->memory_bytes < min)) {
		spec_format_memory(r->memory_bytes, a);
		spec_format_memory(min, b);
		snprintf(buf, len, wasm ? "%s is below the %s a WASM replica needs (the engine, Node.js, takes about 45 MiB of its own; cap the module with wasm.max_memory)"
					: "%s is below the %s a container needs",
			 a, b);
		return "memory";
	}
	if (r->memory_reservation < 0) {
		snprintf(buf, len, "must be positive");
		return "memory_reservation";
	}
	if (r->memory_reservation > 0 && r->memory_bytes > 0 && r->memory_reservation > r->memory_bytes) {
		spec_format_memory(r->memory_reservation, a);
		spec_format_memory(r->memory_bytes, b);
		snprintf(buf, len, "%s is above the memory limit %s", a, b);
		return "memory_reservation";
	}
	/* Like Docker, memory_swap is memory + swap, so it needs a memory limit
	 * at or below it; -1 is unlimited swap. */
	if (r->memory_swap != 0 && r->memory_swap != -1) {
		if (r->memory_bytes <= 0) {
			snprintf(buf, len, "needs resources.memory as well (it is memory + swap)");
			return "memory_swap";
		}
		if (r->memory_swap < r->memory_bytes) {
			spec_format_memory(r->memory_swap, a);
			spec_format_memory(r->memory_bytes, b);
			snprintf(buf, len, "%s is below resources.memory %s (it is memory + swap)", a, b);
			return "memory_swap";
		}
	}
	if (r->cpu_millicores < 0) {
		snprintf(buf, len, "must be above 0");
		return "cpu";
	}
	/* The kernel's smallest quota is 1 ms of a 100 ms period. */
	if (r->cpu_millicores > 0 && r->cpu_millicores < 10) {
		snprintf(buf, len, "%.3f is below the minimum 0.01", (double)r->cpu_millicores / 1000);
		return "cpu";
	}
	return NULL;
}

const char *spec_security_opt_problem(const char *opt)
{
	size_t klen = strcspn(opt, ":=");
	const char *val = opt[klen] ? opt + klen + 1 : NULL;
	if (klen == 17 && !strncmp(opt, "no-new-privileges", klen))
		return !val || !strcmp(val, "true") || !strcmp(val, "false")
			       ? NULL
			       : "expected no-new-privileges[:true|false]";
	if (klen == 11 && !strncmp(opt, "systempaths", klen))
		return val && !strcmp(val, "unconfined") ? NULL : "expected systempaths=unconfined";
	if (klen == 7 && !strncmp(opt, "seccomp", klen))
		return val && (!strcmp(val, "unconfined") || !strcmp(val, "builtin") || val[0] == '/')
			       ? NULL
			       : "expected seccomp=unconfined, seccomp=builtin or seccomp=/absolute/path/to/profile.json (Docker's format)";
	if ((klen == 8 && !strncmp(opt, "apparmor", klen)) || (klen == 5 && !strncmp(opt, "label", klen)))
		return NULL; /* accepted; the backend says what it cannot honour */
	return "unknown option (expected no-new-privileges, systempaths=unconfined, seccomp=, apparmor= or label=)";
}
