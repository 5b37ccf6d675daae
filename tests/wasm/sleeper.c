/* sleeper: prints `started`, then sleeps in 1 s steps forever, or for
 * argv[1] seconds and then prints `done` and exits 0. A long-running replica
 * for stop signals, restarts and logs. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    /* logs are files, not terminals: line buffering makes each line visible
     * when it is printed. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    long secs = argc > 1 ? strtol(argv[1], NULL, 10) : -1;
    printf("started\n");
    for (long i = 0; secs < 0 || i < secs; i++)
        sleep(1);
    printf("done\n");
    return 0;
}
