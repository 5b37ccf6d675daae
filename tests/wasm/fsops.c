/* fsops: tries every kind of change under DIR and prints one line per
 * operation, `NAME: ok` or `NAME: strerror`, then reads DIR/file. DIR must
 * hold a file `file` and an empty directory `empty`, and nothing named d,
 * f2, hard or soft. On a writable preopen every line says ok; on a read-only
 * one every change says "Read-only file system" and the read still works.
 *   fsops DIR */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char paths[2][512];

static const char *in(int slot, const char *dir, const char *name)
{
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", dir, name);
    return paths[slot];
}

static void report(const char *name, int rc)
{
    printf("%s: %s\n", name, rc < 0 ? strerror(errno) : "ok");
}

static int open_close(const char *path, int flags)
{
    int fd = open(path, flags, 0644);
    return fd < 0 ? -1 : close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fsops DIR\n");
        return 2;
    }
    const char *d = argv[1];
    const struct timespec when[2] = {{1000000000, 0}, {1000000000, 0}};
    report("mkdir", mkdir(in(0, d, "d"), 0755));
    report("create", open_close(in(0, d, "new"), O_WRONLY | O_CREAT | O_EXCL));
    report("append", open_close(in(0, d, "file"), O_WRONLY | O_APPEND));
    report("rdwr", open_close(in(0, d, "file"), O_RDWR));
    report("truncate", truncate(in(0, d, "file"), 4));
    report("utimensat", utimensat(AT_FDCWD, in(0, d, "file"), when, 0));
    report("link", link(in(0, d, "file"), in(1, d, "hard")));
    report("symlink", symlink("file", in(0, d, "soft")));
    report("rename", rename(in(0, d, "file"), in(1, d, "f2")));
    report("rename back", rename(in(0, d, "f2"), in(1, d, "file")));
    report("rmdir", rmdir(in(0, d, "empty")));
    report("unlink", unlink(in(0, d, "hard")));
    report("read", open_close(in(0, d, "file"), O_RDONLY));
    return 0;
}
