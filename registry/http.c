/* http.c: one request to a registry, done properly: connection reuse (a
 * shared curl connection pool), authentication on challenge (Basic or
 * Bearer with cached tokens), retries with exponential back-off for 429,
 * 5xx and timeouts (honouring Retry-After), and https with a fallback to
 * plain http only for loopback or user-listed insecure registries. */
#include "registry-internal.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_RETRY_AFTER_MS 60000

void http_response_clear(struct http_response *r)
{
	zl_buf_free(&r->body);
	free(r->content_type);
	free(r->docker_digest);
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
}

/* State of one attempt, seen by curl's callbacks. */
struct attempt {
	struct http_response *resp;
	struct http_sink *sink;
	CURL *curl;
	char *www_authenticate;
	char *retry_after;
	bool sink_failed;
};

static char *header_value(const char *line, size_t n, const char *name)
{
	size_t nl = strlen(name);
	if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	const char *v = line + nl + 1;
	const char *end = line + n;
	while (v < end && isspace((unsigned char)*v))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	return zl_xstrndup(v, (size_t)(end - v));
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	struct attempt *at = ud;
	size_t n = size * nmemb;
	char *v;
	/* A new status line (after a redirect or 100) starts a new header set. */
	if (n > 5 && strncmp(data, "HTTP/", 5) == 0) {
		free(at->www_authenticate);
		at->www_authenticate = NULL;
	}
	if ((v = header_value(data, n, "Content-Type"))) {
		free(at->resp->content_type);
		at->resp->content_type = v;
	} else if ((v = header_value(data, n, "Docker-Content-Digest"))) {
		free(at->resp->docker_digest);
		at->resp->docker_digest = v;
	} else if ((v = header_value(data, n, "WWW-Authenticate"))) {
		free(at->www_authenticate);
		at->www_authenticate = v;
	} else if ((v = header_value(data, n, "Retry-After"))) {
		free(at->retry_after);
		at->retry_after = v;
	} else if ((v = header_value(data, n, "Content-Length"))) {
		at->resp->content_length = strtoll(v, NULL, 10);
		free(v);
	}
	return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct attempt *at = ud;
	size_t n = size * nmemb;
	long status = 0;
	curl_easy_getinfo(at->curl, CURLINFO_RESPONSE_CODE, &status);
	if (at->sink && (status == 200 || status == 206)) {
		if (at->sink->write(at->sink->ud, status, data, n) < 0) {
			at->sink_failed = true;
			return 0; /* aborts the transfer */
		}
		return n;
	}
	/* Error bodies are small; keep at most 64 KiB for the message. */
	if (at->resp->body.len < 65536)
		zl_buf_append(&at->resp->body, data, n);
	return n;
}

static bool host_is_loopback(const char *endpoint)
{
	return strncmp(endpoint, "127.", 4) == 0 || strncmp(endpoint, "localhost", 9) == 0 ||
	       strncmp(endpoint, "[::1]", 5) == 0;
}

static bool host_is_insecure(const struct registry_client *c, const char *endpoint)
{
	for (size_t i = 0; i < c->insecure_count; i++)
		if (strcmp(c->insecure[i], endpoint) == 0)
			return true;
	return false;
}

/* -1 unknown, 0 https, 1 plain http (learned from a failed TLS handshake). */
static int scheme_get(struct registry_client *c, const char *endpoint)
{
	int r = -1;
	pthread_mutex_lock(&c->scheme_lock);
	for (size_t i = 0; i < c->scheme_count; i++)
		if (strcmp(c->schemes[i].endpoint, endpoint) == 0)
			r = c->schemes[i].plain_http;
	pthread_mutex_unlock(&c->scheme_lock);
	return r;
}

static void scheme_set(struct registry_client *c, const char *endpoint, bool plain)
{
	pthread_mutex_lock(&c->scheme_lock);
	c->schemes = zl_xrealloc(c->schemes, (c->scheme_count + 1) * sizeof(*c->schemes));
	c->schemes[c->scheme_count++] = (struct scheme_choice){ zl_xstrdup(endpoint), plain };
	pthread_mutex_unlock(&c->scheme_lock);
}

static void base_options(struct registry_client *c, CURL *curl)
{
	curl_easy_setopt(curl, CURLOPT_SHARE, c->share);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, c->opts.timeout_s);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "zlapply/" ZLAPPLY_VERSION);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, c->ca_file);
}

/* Fetches a bearer token for the challenge; credentials when we have them. */
static int fetch_token(struct registry_client *c, const struct registry_ref *ref,
		       const struct auth_challenge *ch, const char *scope, char **token,
		       int64_t *expires_ms, struct zl_err *err)
{
	CURL *curl = curl_easy_init();
	if (!curl)
		return zl_fail(err, "curl_easy_init failed");
	struct zl_buf url = { 0 };
	zl_buf_puts(&url, ch->realm);
	char sep = strchr(ch->realm, '?') ? '&' : '?';
	if (ch->service) {
		char *e = curl_easy_escape(curl, ch->service, 0);
		zl_buf_printf(&url, "%cservice=%s", sep, e);
		curl_free(e);
		sep = '&';
	}
	if (scope) {
		char *e = curl_easy_escape(curl, scope, 0);
		zl_buf_printf(&url, "%cscope=%s", sep, e);
		curl_free(e);
	}
	struct http_response resp = { .content_length = -1 };
	struct attempt at = { .resp = &resp, .curl = curl };
	base_options(c, curl);
	curl_easy_setopt(curl, CURLOPT_URL, url.data);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &at);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &at);
	const char *cred = auth_credentials(&c->auth, ref->domain, ref->endpoint);
	if (cred) {
		curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(curl, CURLOPT_USERPWD, cred);
	}
	int ret = -1;
	CURLcode rc = curl_easy_perform(curl);
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK) {
		zl_fail(err, "token server %s: %s", ch->realm, curl_easy_strerror(rc));
		goto out;
	}
	if (status == 401 || status == 403) {
		zl_fail(err, "token server %s refused %s (HTTP %ld): %s", ch->realm,
			cred ? "the credentials" : "anonymous access", status,
			cred ? "wrong username or password?" : "credentials needed");
		goto out;
	}
	if (status != 200) {
		zl_fail(err, "token server %s: HTTP %ld", ch->realm, status);
		goto out;
	}
	cJSON *j = cJSON_ParseWithLength(resp.body.data ? resp.body.data : "", resp.body.len);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "token");
	if (!cJSON_IsString(t))
		t = cJSON_GetObjectItemCaseSensitive(j, "access_token");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
	if (cJSON_IsString(t) && t->valuestring[0]) {
		*token = zl_xstrdup(t->valuestring);
		int64_t secs = cJSON_IsNumber(exp) && exp->valuedouble > 0 ? (int64_t)exp->valuedouble : 60;
		/* Renew a little early so a token never expires mid-request. */
		*expires_ms = zl_now_ms() + secs * 1000 - (secs > 20 ? 10000 : 0);
		ret = 0;
	} else {
		zl_fail(err, "token server %s: answer has no token", ch->realm);
	}
	cJSON_Delete(j);
out:
	/* The token server's own challenge or Retry-After (e.g. on a 401). */
	free(at.www_authenticate);
	free(at.retry_after);
	http_response_clear(&resp);
	zl_buf_free(&url);
	curl_easy_cleanup(curl);
	return ret;
}

static bool retryable_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_CONNECT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static int64_t retry_after_ms(const char *v)
{
	if (!v)
		return -1;
	char *end = NULL;
	long long secs = strtoll(v, &end, 10);
	if (end != v && *end == '\0' && secs >= 0)
		return secs * 1000 > MAX_RETRY_AFTER_MS ? MAX_RETRY_AFTER_MS : secs * 1000;
	time_t when = curl_getdate(v, NULL);
	if (when < 0)
		return -1;
	int64_t ms = (int64_t)when * 1000 - zl_now_ms();
	return ms < 0 ? 0 : ms > MAX_RETRY_AFTER_MS ? MAX_RETRY_AFTER_MS : ms;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0)
		;
}

int http_request(struct registry_client *c, const struct http_request *req,
		 struct http_response *resp, struct zl_err *err)
{
	const struct registry_ref *ref = req->ref;
	_cleanup_free_ char *scope = zl_xasprintf("repository:%s:pull", ref->path);
	bool may_plain = host_is_loopback(ref->endpoint) || host_is_insecure(c, ref->endpoint);
	int attempts = 0, auth_rounds = 0;
	char errbuf[CURL_ERROR_SIZE] = "";
	int64_t backoff = c->opts.retry_base_ms;
	int ret = -1;
	CURL *curl = curl_easy_init();
	if (!curl)
		return zl_fail(err, "%s: curl_easy_init failed", req->what);

	for (;;) {
		http_response_clear(resp);
		struct attempt at = { .resp = resp, .sink = req->sink, .curl = curl };
		int64_t resume_from = 0;
		if (req->sink && req->sink->prepare &&
		    req->sink->prepare(req->sink->ud, &resume_from, err) < 0)
			goto out;

		int plain = scheme_get(c, ref->endpoint);
		_cleanup_free_ char *url = zl_xasprintf("%s://%s/v2/%s", plain == 1 ? "http" : "https",
							ref->endpoint, req->path);
		curl_easy_reset(curl);
		base_options(c, curl);
		errbuf[0] = '\0';
		curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(curl, CURLOPT_URL, url);
		curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(curl, CURLOPT_HEADERDATA, &at);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &at);
		if (strcmp(req->method, "HEAD") == 0)
			curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
		if (resume_from > 0) {
			char range[64];
			snprintf(range, sizeof(range), "%lld-", (long long)resume_from);
			curl_easy_setopt(curl, CURLOPT_RANGE, range);
		}
		struct curl_slist *headers = NULL;
		_cleanup_free_ char *accept = req->accept ? zl_xasprintf("Accept: %s", req->accept) : NULL;
		if (accept)
			headers = curl_slist_append(headers, accept);
		_cleanup_free_ char *token = auth_token_get(&c->auth, ref->endpoint, scope, zl_now_ms());
		_cleanup_free_ char *bearer = token ? zl_xasprintf("Authorization: Bearer %s", token) : NULL;
		if (bearer)
			headers = curl_slist_append(headers, bearer);
		const char *cred = auth_credentials(&c->auth, ref->domain, ref->endpoint);
		if (!bearer && cred && auth_uses_basic(&c->auth, ref->endpoint)) {
			curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
			curl_easy_setopt(curl, CURLOPT_USERPWD, cred);
		}
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

		CURLcode rc = curl_easy_perform(curl);
		curl_slist_free_all(headers);
		long status = 0;
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		resp->status = status;
		_cleanup_free_ char *challenge = at.www_authenticate;
		_cleanup_free_ char *retry_after = at.retry_after;

		if (rc != CURLE_OK && at.sink_failed) {
			if (err->msg[0] == '\0')
				zl_fail(err, "%s: writing the download failed", req->what);
			goto out;
		}
		if (rc == CURLE_SSL_CONNECT_ERROR && plain == -1 && may_plain) {
			/* The server speaks plain HTTP; allowed for loopback and
			 * insecure-listed registries only. */
			scheme_set(c, ref->endpoint, true);
			continue;
		}
		if (rc != CURLE_OK) {
			if (retryable_curl(rc) && ++attempts < c->opts.max_attempts) {
				zl_log(ZL_LOG_WARN, "%s: %s; retrying in %lld ms", req->what,
				       curl_easy_strerror(rc), (long long)backoff);
				sleep_ms(backoff);
				backoff *= 2;
				continue;
			}
			/* curl's error buffer says why (e.g. "unable to get local issuer
			 * certificate"); the hint says what to do about it. */
			const char *hint = "";
			if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
				hint = " (a private registry? pass its CA with --ca-file)";
			else if (rc == CURLE_OPERATION_TIMEDOUT)
				hint = " (slower than 1 KiB/s for the timeout, or no answer)";
			zl_fail(err, "%s: %s %s: %s%s%s%s", req->what, req->method, url, curl_easy_strerror(rc),
				errbuf[0] ? ": " : "", errbuf, hint);
			goto out;
		}
		if (plain == -1)
			scheme_set(c, ref->endpoint, strncmp(url, "http:", 5) == 0);

		if (status == 401) {
			struct auth_challenge ch = { 0 };
			bool parsed = challenge && auth_challenge_parse(challenge, &ch) == 0;
			if (!parsed || auth_rounds++ >= 1) {
				auth_challenge_clear(&ch);
				if (cred)
					zl_fail(err, "%s: authentication failed for %s (HTTP 401): wrong username or password in %s?",
						req->what, ref->domain, c->auth.creds_file ? c->auth.creds_file : "the auth file");
				else
					zl_fail(err, "%s: %s requires authentication and no credentials are configured for it (docker login / ~/.docker/config.json or $REGISTRY_AUTH_FILE)",
						req->what, ref->domain);
				goto out;
			}
			int r = 0;
			if (ch.bearer) {
				char *tok = NULL;
				int64_t expires = 0;
				r = fetch_token(c, ref, &ch, ch.scope ? ch.scope : scope, &tok, &expires, err);
				if (r == 0) {
					auth_token_put(&c->auth, ref->endpoint, scope, tok, expires);
					free(tok);
				}
			} else if (cred) {
				auth_mark_basic(&c->auth, ref->endpoint);
			} else {
				/* No "what:" here: it is prefixed below, as for token errors. */
				zl_fail(err, "%s requires a username and password (Basic auth) and none is configured for it",
					ref->domain);
				r = -1;
			}
			auth_challenge_clear(&ch);
			if (r < 0) {
				zl_err_prefix(err, "%s", req->what);
				goto out;
			}
			continue;
		}
		if ((status == 429 || status >= 500) && ++attempts < c->opts.max_attempts) {
			int64_t wait = retry_after_ms(retry_after);
			if (wait < 0)
				wait = backoff;
			zl_log(ZL_LOG_WARN, "%s: HTTP %ld; retrying in %lld ms", req->what, status,
			       (long long)wait);
			sleep_ms(wait);
			backoff *= 2;
			continue;
		}
		ret = 0;
		break;
	}
out:
	curl_easy_cleanup(curl);
	return ret;
}
