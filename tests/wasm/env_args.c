/* env_args: prints argv[1..] one per line as `argv[N]=VALUE`, then
 * `GREETING=VALUE` (or `GREETING unset`) and `PWD=VALUE` (or `PWD unset`). */
#include <stdio.h>
#include <stdlib.h>

static void print_env(const char *name)
{
    const char *v = getenv(name);
    if (v)
        printf("%s=%s\n", name, v);
    else
        printf("%s unset\n", name);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    print_env("GREETING");
    print_env("PWD");
    return 0;
}
