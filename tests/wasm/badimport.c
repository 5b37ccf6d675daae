/* badimport: needs a function WASI preview 1 does not provide
 * (env.zl_missing), so instantiation fails (wasm_invalid). */
#include <stdio.h>

__attribute__((import_module("env"), import_name("zl_missing"))) int zl_missing(void);

int main(void)
{
    printf("badimport: %d\n", zl_missing());
    return 0;
}
