/* unpack-internal.h: test hooks of unpack.c. */
#ifndef ZL_UNPACK_INTERNAL_H
#define ZL_UNPACK_INTERNAL_H

#include <stdbool.h>

/* true: never use openat2(2), resolve paths component by component with
 * O_NOFOLLOW as on kernels before 5.6; lets the tests run both resolvers. */
void unpack_force_walk_resolution(bool on);

#endif
