/* traps: one trap per argument, for the launcher's trap names:
 *   traps div | overflow | conversion | bounds | stack
 * (divide_by_zero, integer_overflow, bad_conversion, memory_out_of_bounds,
 * stack_overflow). Values go through volatile so nothing folds at compile
 * time. */
#include <string.h>

/* Deep recursion on the wasm stack only (no locals in linear memory), so the
 * engine's stack overflows, not the C shadow stack. */
__attribute__((noinline)) static int deep(int n, int m)
{
    if (n == -5)
        return m;
    return deep(n + 1, m ^ n) * 3 + 1;
}

int main(int argc, char **argv)
{
    volatile int zero = 0, min = -2147483647 - 1, minus_one = -1;
    volatile float huge = 1e20f;
    const char *what = argc > 1 ? argv[1] : "";
    if (strcmp(what, "div") == 0)
        return 5 / zero;
    if (strcmp(what, "overflow") == 0)
        return min / minus_one;
    if (strcmp(what, "conversion") == 0)
        return __builtin_wasm_trunc_s_i32_f32(huge);
    if (strcmp(what, "bounds") == 0)
        return *(volatile int *)0x7ffffff0;
    if (strcmp(what, "stack") == 0)
        return deep(argc, 7);
    return 0;
}
