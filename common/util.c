/* util.c: logging, clocks, sha256 and string helpers. */
#include "common.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

static enum zl_log_level log_level = ZL_LOG_INFO;

void zl_log_set_level(enum zl_log_level level) { log_level = level; }
enum zl_log_level zl_log_get_level(void) { return log_level; }

static zl_log_sink_fn log_sink;
void zl_log_set_sink(zl_log_sink_fn sink) { log_sink = sink; }

void zl_log(enum zl_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	if (level > log_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (log_sink) {
		_cleanup_free_ char *msg = NULL;
		if (vasprintf(&msg, fmt, ap) < 0)
			msg = NULL; /* out of memory: the line is lost, not the run */
		va_end(ap);
		if (msg)
			log_sink(level, msg);
		return;
	}
	fprintf(stderr, "zlapply: ");
	if (level != ZL_LOG_INFO)
		fprintf(stderr, "%s: ", names[level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t zl_now_ms(void) { return clock_ms(CLOCK_REALTIME); }
int64_t zl_monotonic_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

void zl_format_size(int64_t bytes, char out[32])
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	if (bytes < 0) {
		snprintf(out, 32, "unknown size");
		return;
	}
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, 32, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void zl_format_time(int64_t ms, char out[32])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static EVP_MD *sha256_md;

static void fetch_sha256(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256_evp(void)
{
	/* OpenSSL 3 looks the algorithm up in its providers on every
	 * EVP_sha256() use; the spec hash of a big deployment digests thousands
	 * of small texts, so it is fetched once (kept for the process). */
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, fetch_sha256);
	if (!sha256_md) {
		fprintf(stderr, "zlapply: OpenSSL has no SHA256\n");
		abort();
	}
	return sha256_md;
}

const struct evp_md_st *zl_sha256_evp(void)
{
	return sha256_evp();
}

void zl_sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int md_len = 0;
	/* EVP_Digest only fails on allocation failure inside OpenSSL. */
	if (EVP_Digest(data, len, md, &md_len, sha256_evp(), NULL) != 1 || md_len != 32) {
		fprintf(stderr, "zlapply: sha256 failed\n");
		abort();
	}
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

bool zl_str_has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

size_t zl_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *row = zl_xcalloc(lb + 1, sizeof(*row));
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	size_t d = row[lb];
	free(row);
	return d;
}
