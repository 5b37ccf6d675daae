/* validate.c: the rules that need more than one key: names, image
 * references, and depends across services (unknown, self, cycles) with the
 * topological order the reconciler starts services in.
 *
 * The order is Kahn's algorithm with a min-heap on file position, so ties
 * keep the order of the file and 1000 services cost O(n log n). */
#include "spec-internal.h"

#include <ctype.h>
#include <string.h>

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
				const char *best = NULL;
				size_t best_d = SIZE_MAX;
				for (size_t j = 0; j < n; j++) {
					size_t d = zl_edit_distance(target, dep->services[j].name);
					if (d < best_d)
						best_d = d, best = dep->services[j].name;
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
}
