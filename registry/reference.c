/* reference.c: image references. Docker's grammar and defaults
 * ("busybox" = docker.io/library/busybox:latest, served at
 * registry-1.docker.io), "oci:DIR[:TAG]" for an OCI layout on disk and
 * "file:PATH" for a WebAssembly binary on disk.
 *
 * Parsing goes right to left like Docker's reference package: the digest
 * after the last '@', then a tag after the last ':' that has no '/' after
 * it, then the name, whose first component is a registry host only when it
 * looks like one ('.' or ':' in it, or "localhost"). */
#include "registry.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#define NAME_MAX_LEN 255 /* domain + "/" + path, as written (Docker's limit) */
#define TAG_MAX_LEN 128

static bool is_word(char c)
{
	return isascii((unsigned char)c) && (isalnum((unsigned char)c) || c == '_');
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [\w][\w.-]{0,127} */
static bool tag_valid(const char *tag, size_t len)
{
	if (len == 0 || len > TAG_MAX_LEN || !is_word(tag[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_word(tag[i]) && tag[i] != '.' && tag[i] != '-')
			return false;
	return true;
}

/* [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*  Returns NULL when valid, else why. */
static const char *component_problem(const char *c, size_t len)
{
	if (len == 0)
		return "empty path component";
	for (size_t i = 0; i < len; i++)
		if (c[i] >= 'A' && c[i] <= 'Z')
			return "repository name must be lowercase";
	size_t i = 0;
	while (i < len) {
		if (!is_lower_alnum(c[i]))
			return i == 0 ? "path components must start with a lowercase letter or digit"
				      : "invalid character or separator in repository path";
		while (i < len && is_lower_alnum(c[i]))
			i++;
		if (i == len)
			break;
		size_t sep = i;
		if (c[i] == '.') {
			i++;
		} else if (c[i] == '_') {
			i++;
			if (i < len && c[i] == '_')
				i++;
		} else if (c[i] == '-') {
			while (i < len && c[i] == '-')
				i++;
		} else {
			return "invalid character or separator in repository path";
		}
		if (i == len || !is_lower_alnum(c[i]))
			return sep + 1 == len || i == len
				? "path components must end with a lowercase letter or digit"
				: "invalid character or separator in repository path";
	}
	return NULL;
}

/* host: components [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])? joined by '.', or
 * a bracketed IPv6 address; then an optional :port. */
static bool domain_valid(const char *d, size_t len)
{
	size_t i = 0;
	if (len > 0 && d[0] == '[') {
		while (i < len && d[i] != ']') {
			char ch = d[i];
			if (i > 0 && !isxdigit((unsigned char)ch) && ch != ':' && ch != '.')
				return false;
			i++;
		}
		if (i == len || i < 3)
			return false;
		i++;
	} else {
		bool need_component = true;
		while (i < len && d[i] != ':') {
			size_t start = i;
			while (i < len && (isalnum((unsigned char)d[i]) || d[i] == '-'))
				i++;
			if (i == start || d[start] == '-' || d[i - 1] == '-')
				return false;
			need_component = false;
			if (i < len && d[i] == '.') {
				i++;
				need_component = true;
			} else if (i < len && d[i] != ':') {
				return false;
			}
		}
		if (need_component)
			return false;
	}
	if (i == len)
		return true;
	if (d[i] != ':' || i + 1 == len)
		return false;
	for (i++; i < len; i++)
		if (!isdigit((unsigned char)d[i]))
			return false;
	return true;
}

static bool looks_like_domain(const char *s, size_t len)
{
	return memchr(s, '.', len) || memchr(s, ':', len) ||
	       (len == 9 && memcmp(s, "localhost", 9) == 0);
}

static int parse_digest(const char *text, const char *d, struct registry_ref *ref,
			struct zl_err *err)
{
	const char *colon = strchr(d, ':');
	if (!colon || colon == d)
		return zl_invalid(err, "invalid image reference \"%s\": digest \"%s\" must be "
				  "\"sha256:<64 hex digits>\"", text, d);
	if ((size_t)(colon - d) != 6 || strncmp(d, "sha256", 6) != 0)
		return zl_invalid(err, "invalid image reference \"%s\": unsupported digest "
				  "algorithm \"%.*s\" (only sha256)", text, (int)(colon - d), d);
	if (!registry_digest_valid(d))
		return zl_invalid(err, "invalid image reference \"%s\": digest \"%s\" must be "
				  "\"sha256:\" and 64 lowercase hex digits", text, d);
	ref->digest = zl_xstrdup(d);
	return 0;
}

static int parse_oci(const char *text, struct registry_ref *ref, struct zl_err *err)
{
	const char *dir = text + 4;
	size_t dir_len = strlen(dir);
	const char *colon = strrchr(dir, ':');
	if (colon && !strchr(colon + 1, '/') && tag_valid(colon + 1, strlen(colon + 1))) {
		ref->tag = zl_xstrdup(colon + 1);
		dir_len = (size_t)(colon - dir);
	}
	if (dir_len == 0)
		return zl_invalid(err, "invalid image reference \"%s\": oci: needs a directory "
				  "(oci:DIR[:TAG])", text);
	ref->is_oci_layout = true;
	ref->path = zl_xstrndup(dir, dir_len);
	return 0;
}

/* file:PATH. A relative path is joined to the current directory; then "."
 * and empty components go and ".." removes the one before, lexically (Go's
 * filepath.Abs), so one file has one canonical reference. */
static int parse_file(const char *text, struct registry_ref *ref, struct zl_err *err)
{
	const char *path = text + 5;
	if (!*path)
		return zl_invalid(err, "invalid image reference \"%s\": file: needs a path "
				  "(file:PATH)", text);
	struct zl_buf full = { 0 };
	if (path[0] != '/') {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return zl_err_set(err, ZL_ERR_FAIL, errno, "image reference \"%s\": the "
					  "current directory", text);
		zl_buf_puts(&full, cwd);
		zl_buf_puts(&full, "/");
	}
	zl_buf_puts(&full, path);
	/* Clean in place: out never passes in. */
	char *p = full.data, *out = full.data;
	bool ends_dir = false;
	while (*p) {
		while (*p == '/')
			p++;
		char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		ends_dir = len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.');
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (out > full.data && *--out != '/')
				;
		} else if (len > 0 && !(len == 1 && p[0] == '.')) {
			*out++ = '/';
			memmove(out, p, len);
			out += len;
		}
		p = end;
	}
	*out = '\0';
	if (ends_dir || out == full.data) {
		zl_buf_free(&full);
		return zl_invalid(err, "invalid image reference \"%s\": file: needs the path of a "
				  "file, not a directory", text);
	}
	ref->is_file = true;
	ref->path = zl_buf_steal(&full);
	return 0;
}

static int parse_docker(const char *text, struct registry_ref *ref, struct zl_err *err)
{
	_cleanup_free_ char *copy = zl_xstrdup(text);
	char *at = strrchr(copy, '@');
	if (at) {
		*at = '\0';
		if (parse_digest(text, at + 1, ref, err) < 0)
			return -1;
	}
	char *name = copy;
	char *colon = strrchr(name, ':');
	if (colon && !strchr(colon + 1, '/')) {
		*colon = '\0';
		const char *tag = colon + 1;
		if (!*tag)
			return zl_invalid(err, "invalid image reference \"%s\": empty tag after ':'",
					  text);
		/* "127.0.0.1:5000" or "localhost:5000": a registry and no repository. */
		if (!strchr(name, '/') && looks_like_domain(name, strlen(name)) &&
		    strspn(tag, "0123456789") == strlen(tag))
			return zl_invalid(err, "invalid image reference \"%s\": \"%s:%s\" looks "
					  "like a registry host:port but no repository path follows",
					  text, name, tag);
		if (!tag_valid(tag, strlen(tag)))
			return zl_invalid(err, "invalid image reference \"%s\": invalid tag \"%s\" "
					  "(expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})", text, tag);
		ref->tag = zl_xstrdup(tag);
	}
	size_t name_len = strlen(name);
	if (name_len == 0)
		return zl_invalid(err, "invalid image reference \"%s\": missing repository name",
				  text);
	if (name_len > NAME_MAX_LEN)
		return zl_invalid(err, "invalid image reference \"%s\": repository name is %zu "
				  "characters, more than %d", text, name_len, NAME_MAX_LEN);

	const char *slash = strchr(name, '/');
	const char *path = name;
	if (slash && looks_like_domain(name, (size_t)(slash - name))) {
		size_t dlen = (size_t)(slash - name);
		if (!domain_valid(name, dlen))
			return zl_invalid(err, "invalid image reference \"%s\": invalid registry "
					  "host \"%.*s\"", text, (int)dlen, name);
		if ((dlen == 15 && strncmp(name, "index.docker.io", 15) == 0))
			ref->domain = zl_xstrdup("docker.io");
		else
			ref->domain = zl_xstrndup(name, dlen);
		path = slash + 1;
	} else if (strchr(name, ':')) {
		return zl_invalid(err, "invalid image reference \"%s\": \"%s\" looks like a "
				  "registry host:port but no repository path follows", text, name);
	} else {
		ref->domain = zl_xstrdup("docker.io");
	}
	if (!*path)
		return zl_invalid(err, "invalid image reference \"%s\": missing repository path "
				  "after \"%s\"", text, ref->domain);
	for (const char *c = path;;) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		const char *problem = component_problem(c, len);
		if (problem)
			return zl_invalid(err, "invalid image reference \"%s\": %s%s", text, problem,
					  len == 0 ? " (\"//\" or a '/' at an end)" : "");
		if (!end)
			break;
		c = end + 1;
	}
	bool docker_hub = strcmp(ref->domain, "docker.io") == 0;
	if (docker_hub && !strchr(path, '/'))
		ref->path = zl_xasprintf("library/%s", path);
	else
		ref->path = zl_xstrdup(path);
	/* The limit holds for the name as normalised (Docker's rule): a
	 * reference whose canonical form could not be parsed back is refused. */
	size_t full = strlen(ref->domain) + 1 + strlen(ref->path);
	if (full > NAME_MAX_LEN)
		return zl_invalid(err, "invalid image reference \"%s\": repository name is %zu "
				  "characters as %s/%s, more than %d", text, full, ref->domain, ref->path,
				  NAME_MAX_LEN);
	ref->endpoint = zl_xstrdup(docker_hub ? "registry-1.docker.io" : ref->domain);
	if (!ref->tag && !ref->digest)
		ref->tag = zl_xstrdup("latest");
	return 0;
}

int registry_ref_parse(const char *text, struct registry_ref *ref, struct zl_err *err)
{
	memset(ref, 0, sizeof(*ref));
	if (!text || !*text)
		return zl_invalid(err, "invalid image reference \"\": empty");
	for (const char *p = text; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return zl_invalid(err, "invalid image reference \"%s\": contains whitespace "
					  "or control characters", text);
	int r;
	if (strncmp(text, "oci:", 4) == 0)
		r = parse_oci(text, ref, err);
	else if (strncmp(text, "file:", 5) == 0)
		r = parse_file(text, ref, err);
	else
		r = parse_docker(text, ref, err);
	if (r < 0)
		registry_ref_clear(ref);
	return r;
}

char *registry_ref_format(const struct registry_ref *ref)
{
	struct zl_buf b = { 0 };
	if (ref->is_oci_layout) {
		zl_buf_printf(&b, "oci:%s", ref->path);
	} else if (ref->is_file) {
		zl_buf_printf(&b, "file:%s", ref->path);
	} else {
		zl_buf_printf(&b, "%s/%s", ref->domain, ref->path);
	}
	if (ref->tag)
		zl_buf_printf(&b, ":%s", ref->tag);
	if (ref->digest)
		zl_buf_printf(&b, "@%s", ref->digest);
	return zl_buf_steal(&b);
}

void registry_ref_clear(struct registry_ref *ref)
{
	if (!ref)
		return;
	free(ref->domain);
	free(ref->endpoint);
	free(ref->path);
	free(ref->tag);
	free(ref->digest);
	memset(ref, 0, sizeof(*ref));
}
