/* hosts.c: the service-names section of a replica's hosts file.
 *
 * The file a replica sees as /etc/hosts is bind-mounted from its run
 * directory, so it is one inode for the replica's whole life: a new file
 * renamed over it would not reach the replica. The section is therefore
 * rewritten in place (write from offset 0, then truncate), and only when
 * its text changed, so an apply that changes nothing writes nothing.
 *
 * The file is "<base lines><mark><names>": the base (localhost, the
 * replica's own hostname, extra_hosts) is written at set-up and kept; the
 * names after the mark are replaced as a whole. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "net-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* The mark is a comment: libc resolvers skip it. */
#define NAMES_MARK "# service names: zlapply rewrites the lines below when replicas change\n"

/* Where the names section starts in text (the mark at the start of a
 * line), or the end of text when there is none. */
static size_t base_length(const char *text)
{
	size_t mark_len = strlen(NAMES_MARK);
	for (const char *p = text; p && *p;) {
		if (strncmp(p, NAMES_MARK, mark_len) == 0)
			return (size_t)(p - text);
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
	return text ? strlen(text) : 0;
}

char *net_hosts_with_names(const char *base, const char *names)
{
	size_t keep = base_length(base);
	struct zl_buf out = { 0 };
	zl_buf_append(&out, base ? base : "", keep);
	if (keep > 0 && base[keep - 1] != '\n')
		zl_buf_puts(&out, "\n");
	zl_buf_puts(&out, NAMES_MARK);
	zl_buf_puts(&out, names ? names : "");
	return zl_buf_steal(&out);
}

/* Writes all of data at offset 0 of fd, then cuts the file there. */
static int rewrite_fd(int fd, const char *data, size_t len, const char *path, struct zl_err *err)
{
	for (size_t done = 0; done < len;) {
		ssize_t w = pwrite(fd, data + done, len - done, (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return zl_fail_errno(err, "write %s", path);
		done += (size_t)w;
	}
	if (ftruncate(fd, (off_t)len) < 0)
		return zl_fail_errno(err, "truncate %s", path);
	return 0;
}

int net_hosts_set_names(const char *path, const char *names, bool *changed, struct zl_err *err)
{
	if (changed)
		*changed = false;
	/* No symlink: the file is ours, in the replica's run directory. */
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return zl_err_set(err, ZL_ERR_FAIL, errno, "open %s", path);
	_cleanup_free_ char *old = NULL;
	size_t old_len = 0;
	if (zl_read_fd_max(fd, 1 << 20, &old, &old_len, err) < 0)
		return zl_err_prefix(err, "read %s", path);
	_cleanup_free_ char *text = net_hosts_with_names(old, names);
	size_t len = strlen(text);
	if (len == old_len && memcmp(text, old, len) == 0)
		return 0;
	if (rewrite_fd(fd, text, len, path, err) < 0)
		return -1;
	if (changed)
		*changed = true;
	return 0;
}
