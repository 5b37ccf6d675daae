/* store.c: the content store <root>/blobs/sha256/<hex>.
 *
 * A blob is downloaded into <hex>.partial, hashed as it arrives, and only
 * renamed to <hex> when its sha256 matches: the store never holds a corrupt
 * blob. An interrupted download keeps its .partial file and the next attempt
 * (or the next run) resumes it with a Range request. Layers download in
 * parallel on a small pool of threads sharing one connection pool. */
#include "registry-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool store_has_blob(const char *root, const char *digest)
{
	_cleanup_free_ char *path = registry_blob_path(root, digest);
	return access(path, F_OK) == 0;
}

static int digest_hex_of(EVP_MD_CTX *ctx, char out[72])
{
	unsigned char md[32];
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(ctx, md, &n) != 1 || n != 32)
		return -1;
	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int store_put_blob(const char *root, const char *digest, const void *data, size_t len,
		   struct zl_err *err)
{
	char got[72], hex[65];
	zl_sha256_hex(data, len, hex);
	snprintf(got, sizeof(got), "sha256:%s", hex);
	if (strcmp(got, digest) != 0)
		return zl_fail(err, "blob %s: content has digest %s (tampered or corrupt)", digest, got);
	_cleanup_free_ char *dir = registry_blob_dir(root);
	_cleanup_free_ char *path = registry_blob_path(root, digest);
	if (zl_mkdir_p(dir, 0700, err) < 0)
		return -1;
	return zl_write_file_atomic(path, data, len, 0644, err);
}

/* One blob download: the .partial file and the running hash. */
struct blob_job {
	struct registry_client *c;
	const struct registry_ref *ref;
	const struct store_fetch *blob;
	char *partial, *final;
	int fd;
	EVP_MD_CTX *md;
	int64_t have;      /* bytes in .partial */
	int64_t start_have; /* at the start of this run, for the rate */
	int64_t started_ms;
	struct zl_err err;
	int result;
	struct progress *progress;
	size_t slot;
};

/* ---- progress: bars on a TTY, plain lines otherwise, nothing with -q ---- */
struct progress {
	pthread_mutex_t lock;
	int mode; /* enum registry_progress, resolved */
	size_t count;
	struct blob_job **jobs;
	int64_t last_draw_ms;
	bool drawn;
};

static void progress_draw(struct progress *p, bool final)
{
	int64_t now = zl_monotonic_ms();
	if (!final && now - p->last_draw_ms < 100)
		return;
	p->last_draw_ms = now;
	if (p->drawn)
		fprintf(stderr, "\033[%zuA", p->count);
	for (size_t i = 0; i < p->count; i++) {
		struct blob_job *j = p->jobs[i];
		int64_t total = j->blob->size > 0 ? j->blob->size : 1;
		int pct = (int)(j->have * 100 / total);
		if (pct > 100)
			pct = 100;
		int64_t elapsed = now - j->started_ms;
		double rate = elapsed > 0 ? (double)(j->have - j->start_have) / ((double)elapsed / 1000.0) : 0;
		char bar[31];
		int fill = pct * 30 / 100;
		memset(bar, '=', (size_t)fill);
		memset(bar + fill, ' ', (size_t)(30 - fill));
		bar[30] = '\0';
		fprintf(stderr, "\r\033[K%-12s [%s] %6.1f/%.1f MiB %7.1f MiB/s\n", j->blob->label, bar,
			(double)j->have / 1048576.0, (double)j->blob->size / 1048576.0, rate / 1048576.0);
	}
	p->drawn = true;
}

static void progress_event(struct blob_job *j, const char *what)
{
	struct progress *p = j->progress;
	if (!p || p->mode == REGISTRY_PROGRESS_NONE)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->mode == REGISTRY_PROGRESS_BARS)
		progress_draw(p, what != NULL);
	else if (what) {
		char size[32];
		zl_format_size(j->blob->size, size);
		fprintf(stderr, "zlapply: %s %s (%s)\n", what, j->blob->label, size);
	}
	pthread_mutex_unlock(&p->lock);
}

/* ---- the sink: resume-aware writer with a running hash ---- */
static int rehash_partial(struct blob_job *j, struct zl_err *err)
{
	EVP_MD_CTX_reset(j->md);
	EVP_DigestInit_ex(j->md, zl_sha256_evp(), NULL);
	j->have = 0;
	if (lseek(j->fd, 0, SEEK_SET) < 0)
		return zl_fail_errno(err, "seek %s", j->partial);
	char buf[65536];
	ssize_t n;
	while ((n = read(j->fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(j->md, buf, (size_t)n);
		j->have += n;
	}
	if (n < 0)
		return zl_fail_errno(err, "read %s", j->partial);
	return 0;
}

static int sink_prepare(void *ud, int64_t *resume_from, struct zl_err *err)
{
	struct blob_job *j = ud;
	if (j->fd < 0) {
		j->fd = open(j->partial, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (j->fd < 0)
			return zl_fail_errno(err, "open %s", j->partial);
	}
	/* Re-read what is on disk so the hash and the offset always agree. */
	if (rehash_partial(j, err) < 0)
		return -1;
	if (j->blob->size > 0 && j->have > j->blob->size) {
		/* Longer than the blob: cannot be a prefix of it. Start over. */
		if (ftruncate(j->fd, 0) < 0)
			return zl_fail_errno(err, "truncate %s", j->partial);
		rehash_partial(j, err);
	}
	if (lseek(j->fd, 0, SEEK_END) < 0)
		return zl_fail_errno(err, "seek %s", j->partial);
	*resume_from = j->have;
	j->start_have = j->have;
	return 0;
}

static bool first_write_of_attempt(struct blob_job *j, long status)
{
	/* A 200 answer to a Range request is the whole blob: restart the file. */
	if (status == 200 && j->have > 0 && j->have == j->start_have) {
		if (ftruncate(j->fd, 0) < 0 || lseek(j->fd, 0, SEEK_SET) < 0)
			return false;
		EVP_MD_CTX_reset(j->md);
		EVP_DigestInit_ex(j->md, zl_sha256_evp(), NULL);
		j->have = 0;
		j->start_have = -1; /* marks "restarted" */
	}
	return true;
}

static int sink_write(void *ud, long status, const char *data, size_t n)
{
	struct blob_job *j = ud;
	if (!first_write_of_attempt(j, status))
		return -1;
	if (j->blob->size > 0 && j->have + (int64_t)n > j->blob->size) {
		zl_fail(&j->err, "blob %s: the registry sent more than the %lld bytes the manifest declares",
			j->blob->digest, (long long)j->blob->size);
		return -1;
	}
	const char *p = data;
	size_t left = n;
	while (left > 0) {
		ssize_t w = write(j->fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			zl_fail_errno(&j->err, "write %s", j->partial);
			return -1;
		}
		p += w;
		left -= (size_t)w;
	}
	EVP_DigestUpdate(j->md, data, n);
	j->have += (int64_t)n;
	progress_event(j, NULL);
	return 0;
}

/* Downloads, verifies and renames one blob. */
static int fetch_one(struct blob_job *j)
{
	struct zl_err *err = &j->err;
	struct http_sink sink = { sink_prepare, sink_write, j };
	_cleanup_free_ char *path = zl_xasprintf("%s/blobs/%s", j->ref->path, j->blob->digest);
	_cleanup_free_ char *what = zl_xasprintf("blob %s", j->blob->digest);
	struct http_request req = { .method = "GET", .ref = j->ref, .path = path, .sink = &sink,
				    .what = what };
	struct http_response resp = { .content_length = -1 };
	j->started_ms = zl_monotonic_ms();
	int ret = -1;
	/* A complete .partial left by a run that died before the rename needs
	 * no download, only verification. */
	int64_t resume_from = 0;
	if (sink_prepare(j, &resume_from, err) < 0)
		goto out;
	if (j->blob->size > 0 && j->have == j->blob->size)
		goto verify;
	for (int round = 0; round < 2; round++) {
		if (http_request(j->c, &req, &resp, err) < 0)
			goto out;
		if (resp.status == 416) {
			/* Our partial file is not a prefix the server can continue. */
			if (ftruncate(j->fd, 0) < 0) {
				zl_fail_errno(err, "truncate %s", j->partial);
				goto out;
			}
			continue;
		}
		break;
	}
	if (resp.status == 404) {
		zl_fail(err, "blob %s: not found in %s (HTTP 404)", j->blob->digest, j->ref->path);
		goto out;
	}
	if (resp.status != 200 && resp.status != 206) {
		zl_fail(err, "blob %s: HTTP %ld", j->blob->digest, resp.status);
		goto out;
	}
	if (j->blob->size > 0 && j->have != j->blob->size) {
		zl_fail(err, "blob %s: got %lld of %lld bytes (connection cut?); the partial download is kept for the next try",
			j->blob->digest, (long long)j->have, (long long)j->blob->size);
		goto out;
	}
verify:;
	char got[72];
	if (digest_hex_of(j->md, got) < 0) {
		zl_fail(err, "blob %s: hashing failed", j->blob->digest);
		goto out;
	}
	if (strcmp(got, j->blob->digest) != 0) {
		/* A corrupt blob is never kept, not even as a partial. */
		unlink(j->partial);
		zl_fail(err, "blob %s: content has digest %s (tampered or corrupt); discarded",
			j->blob->digest, got);
		goto out;
	}
	if (fsync(j->fd) < 0 || rename(j->partial, j->final) < 0) {
		zl_fail_errno(err, "store %s", j->final);
		goto out;
	}
	progress_event(j, "pulled");
	ret = 0;
out:
	http_response_clear(&resp);
	return ret;
}

struct pool {
	pthread_mutex_t lock;
	struct blob_job *jobs;
	size_t count, next;
	bool failed;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		if (p->failed || p->next >= p->count) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		struct blob_job *j = &p->jobs[p->next++];
		pthread_mutex_unlock(&p->lock);
		j->result = fetch_one(j);
		if (j->result < 0) {
			pthread_mutex_lock(&p->lock);
			p->failed = true; /* stop starting new downloads */
			pthread_mutex_unlock(&p->lock);
		}
	}
}

int store_fetch_blobs(struct registry_client *c, const struct registry_ref *ref,
		      const struct store_fetch *blobs, size_t count, struct zl_err *err)
{
	_cleanup_free_ char *dir = registry_blob_dir(c->root);
	if (zl_mkdir_p(dir, 0700, err) < 0)
		return -1;
	struct pool pool = { .jobs = zl_xcalloc(count + 1, sizeof(struct blob_job)) };
	pthread_mutex_init(&pool.lock, NULL);
	struct progress progress = { .mode = c->progress_mode };
	pthread_mutex_init(&progress.lock, NULL);
	progress.jobs = zl_xcalloc(count + 1, sizeof(*progress.jobs));

	for (size_t i = 0; i < count; i++) {
		if (store_has_blob(c->root, blobs[i].digest))
			continue;
		struct blob_job *j = &pool.jobs[pool.count++];
		j->c = c;
		j->ref = ref;
		j->blob = &blobs[i];
		j->final = registry_blob_path(c->root, blobs[i].digest);
		j->partial = zl_xasprintf("%s.partial", j->final);
		j->fd = -1;
		j->md = EVP_MD_CTX_new();
		j->progress = &progress;
		progress.jobs[progress.count++] = j;
	}
	size_t threads = (size_t)c->opts.max_parallel;
	if (threads > pool.count)
		threads = pool.count;
	pthread_t tids[16];
	if (threads > 16)
		threads = 16;
	size_t started = 0;
	for (size_t i = 0; i < threads; i++)
		if (pthread_create(&tids[started], NULL, worker, &pool) == 0)
			started++;
	if (started == 0 && pool.count > 0)
		worker(&pool); /* no threads to be had: do it here */
	for (size_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (progress.mode == REGISTRY_PROGRESS_BARS && progress.count > 0)
		progress_draw(&progress, true);

	int ret = 0;
	for (size_t i = 0; i < pool.count; i++) {
		struct blob_job *j = &pool.jobs[i];
		if (j->result < 0 && ret == 0 && j->err.msg[0]) {
			*err = j->err;
			ret = -1;
		}
		if (j->fd >= 0)
			close(j->fd);
		EVP_MD_CTX_free(j->md);
		free(j->final);
		free(j->partial);
	}
	if (pool.failed && ret == 0)
		ret = zl_fail(err, "a blob download failed");
	free(pool.jobs);
	free(progress.jobs);
	pthread_mutex_destroy(&pool.lock);
	pthread_mutex_destroy(&progress.lock);
	return ret;
}
