/* error.c: struct zl_err, the one error convention of zlapply. */
#include "common.h"

#include <string.h>

int zl_err_set(struct zl_err *err, enum zl_err_kind kind, int sys_errno, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		err->msg[0] = '\0';
	if (sys_errno != 0) {
		size_t used = strlen(err->msg);
		/* Truncation is acceptable: the message is for people. */
		snprintf(err->msg + used, sizeof(err->msg) - used, ": %s", strerror(sys_errno));
	}
	err->kind = kind;
	err->sys_errno = sys_errno;
	return -1;
}

int zl_err_prefix(struct zl_err *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char prefix[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	/* Shift the old message right and put the prefix in front; a message
	 * longer than the buffer is cut at the end: it is for people. */
	size_t plen = strnlen(prefix, sizeof(prefix));
	size_t cap = sizeof(err->msg) - 1;
	size_t head = plen + 2 < cap ? plen + 2 : cap;
	size_t keep = strnlen(err->msg, cap);
	if (keep > cap - head)
		keep = cap - head;
	memmove(err->msg + head, err->msg, keep);
	memcpy(err->msg, prefix, head < plen ? head : plen);
	if (head == plen + 2) {
		err->msg[plen] = ':';
		err->msg[plen + 1] = ' ';
	}
	err->msg[head + keep] = '\0';
	if (err->kind == ZL_ERR_NONE)
		err->kind = ZL_ERR_FAIL;
	return -1;
}

void zl_err_clear(struct zl_err *err)
{
	if (!err)
		return;
	err->kind = ZL_ERR_NONE;
	err->sys_errno = 0;
	err->msg[0] = '\0';
}
