/* files: file access through preopened directories.
 *   files read PATH              prints the file's bytes to stdout
 *   files write PATH TEXT        writes TEXT (truncating), prints `wrote`
 *   files writeat DIR NAME TEXT  the same through openat() on DIR opened
 *                                first (an fd made under a preopen, not the
 *                                preopen's own)
 * Exit 0; on any error, `files: PATH: strerror` on stderr and exit 3 (so a
 * refused write on a read-only preopen shows "Read-only file system"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *path)
{
    fprintf(stderr, "files: %s: %s\n", path, strerror(errno));
    return 3;
}

static int do_read(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(path);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stdout);
    int bad = ferror(f);
    fclose(f);
    return bad ? fail(path) : 0;
}

static int do_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return fail(path);
    if (fputs(text, f) == EOF || fclose(f) == EOF)
        return fail(path);
    printf("wrote\n");
    return 0;
}

static int do_writeat(const char *dir, const char *name, const char *text)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0)
        return fail(dir);
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return fail(name);
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || close(fd) != 0)
        return fail(name);
    close(dfd);
    printf("wrote\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "read") == 0)
        return do_read(argv[2]);
    if (argc == 4 && strcmp(argv[1], "write") == 0)
        return do_write(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "writeat") == 0)
        return do_writeat(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: files read PATH | files write PATH TEXT | "
                    "files writeat DIR NAME TEXT\n");
    return 2;
}
