/* lock.c: the apply lock, flock(<root>/lock), held for a whole apply so two
 * zlapply runs never interleave their writes.
 *
 * The holder writes its pid into the file so a waiter can say who it waits
 * for. The kernel drops the flock when the holder exits, however it exits,
 * so a stale pid in the file never blocks anybody. */
#include "state/state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#define LOCK_POLL_MS 20
#define LOCK_ANNOUNCE_MS 1000

/* The pid recorded in the lock file, or -1 when it is empty or unreadable
 * (the holder may be between its flock and its write). */
static long read_holder_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *end;
	errno = 0;
	long pid = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || pid <= 0)
		return -1;
	return pid;
}

static int write_own_pid(int fd, const char *path, struct zl_err *err)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0)
		return zl_fail_errno(err, "state: truncate %s", path);
	if (pwrite(fd, buf, (size_t)len, 0) != len)
		return zl_fail_errno(err, "state: write pid to %s", path);
	return 0;
}

static void format_duration(int64_t ms, char *out, size_t size)
{
	if (ms >= 1000 && ms % 1000 == 0)
		snprintf(out, size, "%" PRId64 "s", ms / 1000);
	else
		snprintf(out, size, "%" PRId64 "ms", ms);
}

static int fail_busy(int fd, const char *path, int64_t timeout_ms, struct zl_err *err)
{
	char waited[32];
	format_duration(timeout_ms, waited, sizeof(waited));
	long pid = read_holder_pid(fd);
	/* ZL_ERR_BUSY is the CLI's exit code 4; EWOULDBLOCK tells callers that
	 * retry (--wait, watch) busy from broken. */
	if (pid > 0)
		return zl_err_set(err, ZL_ERR_BUSY, EWOULDBLOCK,
				  "another zlapply (pid %ld) holds %s; gave up after %s "
				  "(raise --lock-timeout)",
				  pid, path, waited);
	return zl_err_set(err, ZL_ERR_BUSY, EWOULDBLOCK,
			  "another zlapply holds %s; gave up after %s (raise --lock-timeout)", path,
			  waited);
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	/* An interrupted sleep only makes us poll earlier. */
	nanosleep(&ts, NULL);
}

int state_lock_acquire(const char *root, int64_t timeout_ms, struct state_lock *lock,
		       struct zl_err *err)
{
	lock->fd = -1;
	if (zl_mkdir_p(root, 0700, err) < 0)
		return zl_err_prefix(err, "state: lock");
	_cleanup_free_ char *path = zl_xasprintf("%s/lock", root);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return zl_fail_errno(err, "state: open %s", path);

	int64_t start = zl_monotonic_ms();
	bool announced = false;
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return zl_fail_errno(err, "state: lock %s", path);
		int64_t waited = zl_monotonic_ms() - start;
		if (waited >= timeout_ms)
			return fail_busy(fd, path, timeout_ms, err);
		if (!announced && waited >= LOCK_ANNOUNCE_MS) {
			long pid = read_holder_pid(fd);
			if (pid > 0)
				zl_log(ZL_LOG_INFO, "waiting for the lock held by pid %ld (%s) ...",
				       pid, path);
			else
				zl_log(ZL_LOG_INFO, "waiting for the lock on %s ...", path);
			announced = true;
		}
		int64_t left = timeout_ms - waited;
		sleep_ms(left < LOCK_POLL_MS ? left : LOCK_POLL_MS);
	}

	if (write_own_pid(fd, path, err) < 0)
		return -1; /* closing fd drops the lock */
	lock->fd = fd;
	fd = -1;
	return 0;
}

void state_lock_release(struct state_lock *lock)
{
	if (!lock || lock->fd < 0)
		return;
	/* Forget our pid while still holding the lock, so the next waiter never
	 * names a process that is gone. A failure only leaves a stale pid. */
	if (ftruncate(lock->fd, 0) < 0)
		zl_log(ZL_LOG_DEBUG, "state: clear lock file: %s", strerror(errno));
	close(lock->fd);
	lock->fd = -1;
}
