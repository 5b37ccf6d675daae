/* exit7: the launcher's exit contract in one line each way: a line on stdout,
 * a line on stderr, and main's return value (7) as the process exit code. */
#include <stdio.h>

int main(void)
{
    printf("exit7: out\n");
    fprintf(stderr, "exit7: err\n");
    return 7;
}
