/* crash: prints `crash` and exits 2 at once (restart-policy tests). */
#include <stdio.h>

int main(void)
{
    printf("crash\n");
    return 2;
}
