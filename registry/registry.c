/* registry.c: layout of the content store under the state root. */
#include "registry.h"

char *registry_blob_dir(const char *root)
{
	return zl_xasprintf("%s/blobs/sha256", root);
}
