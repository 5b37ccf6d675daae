/* registry.h: images: references, the distribution client, the content store
 * and layer unpacking. Only the module's skeleton exists until the images
 * issue lands; the reconciler does not call into it yet. */
#ifndef ZL_REGISTRY_H
#define ZL_REGISTRY_H

#include "common/common.h"

/* The content store directory under a state root ("<root>/blobs/sha256"). Caller frees. */
char *registry_blob_dir(const char *root);

#endif
