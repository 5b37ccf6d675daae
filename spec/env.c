/* env.c: resolving env values: "$E:VAR" from zlapply's own environment,
 * "$S:name" / "$secret://name" from a file per secret. Only a reference
 * that is the whole value is resolved; "x$E:Y" is literal text. Secret
 * values never appear in messages. */
#include "spec-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

static int read_secret(const char *svc, const char *key, const char *dir, const char *name,
		       char **out, struct zl_err *err)
{
	if (!dir)
		return zl_invalid(err, "service %s: env %s: secret \"%s\" needs a secrets directory", svc, key, name);
	if (!*name || strchr(name, '/') || name[0] == '.')
		return zl_invalid(err, "service %s: env %s: invalid secret name \"%s\"", svc, key, name);
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, name);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return zl_invalid(err, "service %s: env %s: secret \"%s\" not found (no file %s)",
					  svc, key, name, path);
		return zl_err_set(err, ZL_ERR_FAIL, errno, "service %s: env %s: cannot read secret \"%s\"",
				  svc, key, name);
	}
	struct zl_buf buf = { 0 };
	char chunk[4096];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			zl_buf_free(&buf);
			return zl_err_set(err, ZL_ERR_FAIL, saved, "service %s: env %s: cannot read secret \"%s\"",
					  svc, key, name);
		}
		if (n == 0)
			break;
		zl_buf_append(&buf, chunk, (size_t)n);
	}
	/* Files written by editors and `echo` end with a newline that is not
	 * part of the secret. */
	if (buf.len && buf.data[buf.len - 1] == '\n')
		buf.len--;
	if (buf.len && buf.data[buf.len - 1] == '\r')
		buf.len--;
	if (buf.data)
		buf.data[buf.len] = '\0';
	*out = zl_buf_steal(&buf);
	return 0;
}

int spec_service_resolve_env(const struct spec_service *svc, const char *secrets_dir,
			     struct spec_kv **out, size_t *out_count, struct zl_err *err)
{
	struct spec_kv *kv = zl_xcalloc(svc->env_count + 1, sizeof(*kv));
	size_t used = 0;
	for (size_t i = 0; i < svc->env_count; i++) {
		const char *key = svc->env[i].key, *v = svc->env[i].value;
		char *value = NULL;
		if (!strncmp(v, "$E:", 3)) {
			const char *got = getenv(v + 3);
			if (!got) {
				spec_kv_free(kv, used);
				return zl_invalid(err, "service %s: env %s: environment variable %s is not set",
						  svc->name, key, v + 3);
			}
			value = zl_xstrdup(got);
		} else if (!strncmp(v, "$S:", 3) || !strncmp(v, "$secret://", 10)) {
			const char *name = v[1] == 'S' ? v + 3 : v + 10;
			if (read_secret(svc->name, key, secrets_dir, name, &value, err) < 0) {
				spec_kv_free(kv, used);
				return -1;
			}
		} else {
			value = zl_xstrdup(v);
		}
		kv[used++] = (struct spec_kv){ zl_xstrdup(key), value };
	}
	spec_kv_sort(kv, used);
	*out = kv;
	*out_count = used;
	return 0;
}
