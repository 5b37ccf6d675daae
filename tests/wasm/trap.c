/* trap: prints a line, then executes `unreachable` (the launcher reports
 * `wasm_trap: unreachable` and exits 134). */
#include <stdio.h>

int main(void)
{
    printf("trap: about to trap\n");
    /* stdout is fully buffered when it is not a terminal: flush it, or the
     * line dies with the trap. */
    fflush(stdout);
    __builtin_trap();
}
