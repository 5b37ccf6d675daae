/* auth.c: registry credentials and tokens.
 *
 * Credentials come from $REGISTRY_AUTH_FILE or ~/.docker/config.json
 * (auths.<host>.auth = base64("user:password")); they stay in memory and
 * are never logged or stored. Bearer tokens are cached per endpoint and
 * scope until they expire. */
#include "registry-internal.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

void auth_state_init(struct auth_state *a, const char *auth_file)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	if (auth_file)
		a->creds_file = zl_xstrdup(auth_file);
}

void auth_state_free(struct auth_state *a)
{
	for (size_t i = 0; i < a->token_count; i++) {
		free(a->tokens[i].endpoint);
		free(a->tokens[i].scope);
		free(a->tokens[i].token);
	}
	free(a->tokens);
	for (size_t i = 0; i < a->basic_count; i++)
		free(a->basic_endpoints[i]);
	free(a->basic_endpoints);
	for (size_t i = 0; i < a->cred_count; i++) {
		free(a->creds[i].host);
		/* Wipe before freeing: a password should not linger in the heap. */
		explicit_bzero(a->creds[i].user_pass, strlen(a->creds[i].user_pass));
		free(a->creds[i].user_pass);
	}
	free(a->creds);
	free(a->creds_file);
	pthread_mutex_destroy(&a->lock);
}

/* "https://index.docker.io/v1/" -> "docker.io"; "host:5000/" -> "host:5000". */
static char *normalise_host(const char *key)
{
	const char *p = key;
	if (strncmp(p, "https://", 8) == 0)
		p += 8;
	else if (strncmp(p, "http://", 7) == 0)
		p += 7;
	size_t n = strcspn(p, "/");
	char *host = zl_xstrndup(p, n);
	if (strcmp(host, "index.docker.io") == 0 || strcmp(host, "registry-1.docker.io") == 0) {
		free(host);
		host = zl_xstrdup("docker.io");
	}
	return host;
}

static char *decode_base64(const char *in)
{
	size_t len = strlen(in);
	if (len == 0 || len % 4 != 0)
		return NULL;
	unsigned char *out = zl_xmalloc(len / 4 * 3 + 1);
	int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts padding bytes as output; drop them. */
	if (len >= 1 && in[len - 1] == '=')
		n--;
	if (len >= 2 && in[len - 2] == '=')
		n--;
	out[n] = '\0';
	return (char *)out;
}

static void load_credentials(struct auth_state *a)
{
	a->creds_loaded = true;
	if (!a->creds_file) {
		const char *env = getenv("REGISTRY_AUTH_FILE");
		const char *home = getenv("HOME");
		if (env && *env)
			a->creds_file = zl_xstrdup(env);
		else if (home && *home)
			a->creds_file = zl_xasprintf("%s/.docker/config.json", home);
		else
			return;
	}
	char *text = NULL;
	size_t len = 0;
	struct zl_err err = ZL_ERR_INIT;
	if (zl_read_file(a->creds_file, &text, &len, &err) < 0)
		return; /* no file: anonymous only */
	cJSON *root = cJSON_ParseWithLength(text, len);
	explicit_bzero(text, len);
	free(text);
	if (!root) {
		zl_log(ZL_LOG_WARN, "%s: not valid JSON; using no registry credentials", a->creds_file);
		return;
	}
	const cJSON *auths = cJSON_GetObjectItemCaseSensitive(root, "auths");
	const cJSON *entry;
	cJSON_ArrayForEach(entry, auths) {
		const cJSON *auth = cJSON_GetObjectItemCaseSensitive(entry, "auth");
		if (!cJSON_IsString(auth))
			continue;
		char *user_pass = decode_base64(auth->valuestring);
		if (!user_pass || !strchr(user_pass, ':')) {
			zl_log(ZL_LOG_WARN, "%s: auths.%s.auth is not base64 of user:password; ignored",
			       a->creds_file, entry->string);
			free(user_pass);
			continue;
		}
		a->creds = zl_xrealloc(a->creds, (a->cred_count + 1) * sizeof(*a->creds));
		a->creds[a->cred_count++] = (struct auth_cred){ normalise_host(entry->string), user_pass };
	}
	cJSON_Delete(root);
}

const char *auth_credentials(struct auth_state *a, const char *domain, const char *endpoint)
{
	pthread_mutex_lock(&a->lock);
	if (!a->creds_loaded)
		load_credentials(a);
	const char *found = NULL;
	for (size_t i = 0; i < a->cred_count && !found; i++)
		if ((domain && strcmp(a->creds[i].host, domain) == 0) ||
		    (endpoint && strcmp(a->creds[i].host, endpoint) == 0))
			found = a->creds[i].user_pass;
	pthread_mutex_unlock(&a->lock);
	return found;
}

char *auth_token_get(struct auth_state *a, const char *endpoint, const char *scope, int64_t now_ms)
{
	char *token = NULL;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->token_count; i++) {
		struct auth_token *t = &a->tokens[i];
		if (strcmp(t->endpoint, endpoint) == 0 && strcmp(t->scope, scope) == 0 &&
		    t->expires_ms > now_ms)
			token = zl_xstrdup(t->token);
	}
	pthread_mutex_unlock(&a->lock);
	return token;
}

void auth_token_put(struct auth_state *a, const char *endpoint, const char *scope,
		    const char *token, int64_t expires_ms)
{
	pthread_mutex_lock(&a->lock);
	struct auth_token *slot = NULL;
	for (size_t i = 0; i < a->token_count && !slot; i++)
		if (strcmp(a->tokens[i].endpoint, endpoint) == 0 && strcmp(a->tokens[i].scope, scope) == 0)
			slot = &a->tokens[i];
	if (!slot) {
		zl_grow(&a->tokens, sizeof(*a->tokens), &a->token_cap, a->token_count + 1);
		slot = &a->tokens[a->token_count++];
		slot->endpoint = zl_xstrdup(endpoint);
		slot->scope = zl_xstrdup(scope);
		slot->token = NULL;
	}
	free(slot->token);
	slot->token = zl_xstrdup(token);
	slot->expires_ms = expires_ms;
	pthread_mutex_unlock(&a->lock);
}

bool auth_uses_basic(struct auth_state *a, const char *endpoint)
{
	bool yes = false;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->basic_count && !yes; i++)
		yes = strcmp(a->basic_endpoints[i], endpoint) == 0;
	pthread_mutex_unlock(&a->lock);
	return yes;
}

void auth_mark_basic(struct auth_state *a, const char *endpoint)
{
	if (auth_uses_basic(a, endpoint))
		return;
	pthread_mutex_lock(&a->lock);
	a->basic_endpoints = zl_xrealloc(a->basic_endpoints,
					 (a->basic_count + 1) * sizeof(*a->basic_endpoints));
	a->basic_endpoints[a->basic_count++] = zl_xstrdup(endpoint);
	pthread_mutex_unlock(&a->lock);
}

/* Parses `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`. */
int auth_challenge_parse(const char *header, struct auth_challenge *ch)
{
	memset(ch, 0, sizeof(*ch));
	const char *p = header;
	while (isspace((unsigned char)*p))
		p++;
	if (strncasecmp(p, "Bearer", 6) == 0 && (p[6] == ' ' || p[6] == '\0'))
		ch->bearer = true;
	else if (!(strncasecmp(p, "Basic", 5) == 0 && (p[5] == ' ' || p[5] == '\0')))
		return -1;
	p += ch->bearer ? 6 : 5;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *key = p;
		while (*p && *p != '=')
			p++;
		if (*p != '=')
			break;
		size_t key_len = (size_t)(p - key);
		p++;
		struct zl_buf value = { 0 };
		if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				zl_buf_append(&value, p, 1);
				p++;
			}
			if (*p == '"')
				p++;
		} else {
			const char *v = p;
			while (*p && *p != ',')
				p++;
			zl_buf_append(&value, v, (size_t)(p - v));
		}
		char *v = zl_buf_steal(&value);
		char **slot = NULL;
		if (key_len == 5 && strncasecmp(key, "realm", 5) == 0)
			slot = &ch->realm;
		else if (key_len == 7 && strncasecmp(key, "service", 7) == 0)
			slot = &ch->service;
		else if (key_len == 5 && strncasecmp(key, "scope", 5) == 0)
			slot = &ch->scope;
		if (slot) {
			free(*slot);
			*slot = v;
		} else {
			free(v);
		}
	}
	if (ch->bearer && (!ch->realm || strncmp(ch->realm, "http", 4) != 0)) {
		auth_challenge_clear(ch);
		return -1;
	}
	return 0;
}

void auth_challenge_clear(struct auth_challenge *ch)
{
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	memset(ch, 0, sizeof(*ch));
}
