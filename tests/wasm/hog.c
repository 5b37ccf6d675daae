/* hog: takes memory 1 MiB at a time until malloc fails, then prints
 * `hog: got N MiB` on stderr and exits 1, or 0 when given any argument (a
 * module that copes). Under wasm.max_memory the failing malloc is a refused
 * memory.grow, so the launcher records memory_limit (after exit 1 only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK (1024 * 1024)
/* wasm32 addresses 4 GiB at most: 4096 blocks. Kept in a global so clang
 * cannot prove the allocations dead and drop them. */
static void *volatile blocks[4096];

int main(int argc, char **argv)
{
    int n = 0;
    while (n < 4096) {
        void *p = malloc(BLOCK);
        if (!p)
            break;
        memset(p, 0xa5, BLOCK); /* touch it: the pages are really used */
        blocks[n++] = p;
    }
    (void)argv;
    fprintf(stderr, "hog: got %d MiB\n", n);
    return argc > 1 ? 0 : 1;
}
