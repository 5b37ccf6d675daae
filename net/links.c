/* links.c: looking at and removing host interfaces by name, for `zlapply
 * doctor` (host veth ends zlapply left behind). */
#include "net-internal.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int net_links_list(const char *prefix, char ***names, size_t *n, struct zl_err *err)
{
	*names = NULL;
	*n = 0;
	DIR *d = opendir("/sys/class/net");
	if (!d)
		return zl_fail_errno(err, "open /sys/class/net");
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		zl_grow(names, sizeof(**names), &cap, *n + 1);
		(*names)[(*n)++] = zl_xstrdup(de->d_name);
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(**names), cmp_names);
	return 0;
}

int net_link_delete(const char *ifname, struct zl_err *err)
{
	struct zl_err e = ZL_ERR_INIT;
	_cleanup_nl_ struct nl_sock nl = NL_SOCK_INIT;
	if (nl_open(&nl, -1, &e) < 0 || (nl_link_delete(&nl, ifname, &e) < 0 && e.sys_errno != ENODEV)) {
		zl_err_prefix(&e, "delete link %s", ifname);
		return net_err_out(err, &e);
	}
	return 0;
}
