/* preopens: prints `fd N = NAME` for each preopened directory, as WASI
 * preview 1 numbers them (3, 4, ... until fd_prestat_get fails). The launcher
 * test checks that the fds follow the config's order. */
#include <stdio.h>
#include <wasi/api.h>

int main(void)
{
    for (__wasi_fd_t fd = 3;; fd++) {
        __wasi_prestat_t st;
        if (__wasi_fd_prestat_get(fd, &st) != 0)
            break;
        char name[256];
        size_t len = st.u.dir.pr_name_len;
        if (len >= sizeof name ||
            __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, len) != 0)
            return 3;
        name[len] = 0;
        printf("fd %u = %s\n", (unsigned)fd, name);
    }
    return 0;
}
