/* hello: the module of examples/deployments/wasm.yaml, a WASI preview 1
 * program run by zlapply's wasm backend (node:wasi).
 *
 * It greets with $GREETING (default "hello") and its arguments, counts its
 * starts in /data/counter when a directory is preopened at /data (so a
 * restart shows the count going up), then prints a line every 5 seconds until
 * it is stopped.
 *
 * Build: clang --target=wasm32-wasi -O2 hello.c -o hello.wasm */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define COUNTER "/data/counter"

/* Returns this start's number (1 for the first), or 0 without /data. */
static long count_start(void)
{
    long n = 0;
    FILE *f = fopen(COUNTER, "r");
    if (f) {
        if (fscanf(f, "%ld", &n) != 1)
            n = 0;
        fclose(f);
    }
    f = fopen(COUNTER, "w");
    if (!f)
        return 0; /* no /data preopen, or read-only: just run */
    fprintf(f, "%ld\n", ++n);
    fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    /* zlapply writes logs to files: print each line when it is complete. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *greeting = getenv("GREETING");
    if (!greeting || !*greeting)
        greeting = "hello";

    printf("%s from a WebAssembly module", greeting);
    for (int i = 1; i < argc; i++)
        printf("%s %s", i == 1 ? ", args:" : "", argv[i]);
    printf("\n");

    long starts = count_start();
    if (starts > 0)
        printf("start number %ld (counted in %s)\n", starts, COUNTER);

    for (long tick = 1;; tick++) {
        sleep(5);
        printf("%s again, tick %ld\n", greeting, tick);
    }
}
