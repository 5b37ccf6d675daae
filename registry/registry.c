/* registry.c: layout of the content store and the layer tree under the
 * state root, and digest syntax. */
#include "registry-internal.h"

#include <errno.h>
#include <string.h>

bool registry_digest_valid(const char *digest)
{
	if (!digest || strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 7 + 64)
		return false;
	for (const char *p = digest + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

int registry_open_file(const char *path, struct zl_err *err)
{
	unsigned mode = 0;
	struct zl_err oerr = ZL_ERR_INIT;
	int fd = zl_open_regular(path, false, &mode, &oerr);
	if (fd >= 0)
		return fd;
	if (oerr.sys_errno == ENOENT)
		return zl_invalid(err, "%s: no such file", path);
	if (!oerr.sys_errno)
		return zl_invalid(err, "%s is not a regular file but %s: refused without reading it", path,
				  zl_file_kind(mode));
	return zl_err_set(err, ZL_ERR_FAIL, oerr.sys_errno, "open %s", path);
}

char *registry_blob_dir(const char *root)
{
	return zl_xasprintf("%s/blobs/sha256", root);
}

char *registry_blob_path(const char *root, const char *digest)
{
	const char *hex = strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest;
	return zl_xasprintf("%s/blobs/sha256/%s", root, hex);
}

char *registry_layer_dir(const char *root, const char *diff_id)
{
	const char *hex = strncmp(diff_id, "sha256:", 7) == 0 ? diff_id + 7 : diff_id;
	return zl_xasprintf("%s/layers/%s", root, hex);
}
