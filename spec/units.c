/* units.c: the scalar formats of docs/spec-reference.md (duration, memory, cpu,
 * signal). Each parser is strict on purpose: "512M" silently meaning 512 MB
 * or 512 MiB is exactly the ambiguity the format forbids. */
#include "spec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <strings.h>

struct time_unit {
	const char *name;
	uint64_t ns;
};

#define NS_S 1000000000ULL
static const struct time_unit time_units[] = {
	{ "ns", 1 }, { "nsec", 1 },
	{ "us", 1000 }, { "usec", 1000 }, { "\xc2\xb5s", 1000 },
	{ "ms", 1000000 }, { "msec", 1000000 },
	{ "s", NS_S }, { "sec", NS_S }, { "secs", NS_S }, { "second", NS_S }, { "seconds", NS_S },
	{ "m", 60 * NS_S }, { "min", 60 * NS_S }, { "mins", 60 * NS_S },
	{ "minute", 60 * NS_S }, { "minutes", 60 * NS_S },
	{ "h", 3600 * NS_S }, { "hr", 3600 * NS_S }, { "hrs", 3600 * NS_S },
	{ "hour", 3600 * NS_S }, { "hours", 3600 * NS_S },
	{ "d", 86400 * NS_S }, { "day", 86400 * NS_S }, { "days", 86400 * NS_S },
	{ "w", 604800 * NS_S }, { "week", 604800 * NS_S }, { "weeks", 604800 * NS_S },
};

int spec_parse_duration(const char *s, int64_t *ms, struct zl_err *err)
{
	const char *p = s;
	uint64_t total_ns = 0;
	bool any = false;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (!isdigit((unsigned char)*p))
			return zl_invalid(err, "expected a duration such as \"30s\" or \"1h30m\", got \"%s\"", s);
		uint64_t n = 0;
		while (isdigit((unsigned char)*p)) {
			if (n > UINT64_MAX / 10)
				return zl_invalid(err, "duration \"%s\" is too large", s);
			n = n * 10 + (uint64_t)(*p - '0');
			p++;
		}
		while (*p == ' ')
			p++;
		const char *u = p;
		while (*p && !isdigit((unsigned char)*p) && *p != ' ')
			p++;
		size_t ulen = (size_t)(p - u);
		if (ulen == 0)
			return zl_invalid(err, "expected a duration such as \"30s\" or \"1h30m\", got \"%s\": time unit needed", s);
		const struct time_unit *unit = NULL;
		for (size_t i = 0; i < sizeof(time_units) / sizeof(time_units[0]); i++)
			if (strlen(time_units[i].name) == ulen && memcmp(time_units[i].name, u, ulen) == 0)
				unit = &time_units[i];
		if (!unit)
			return zl_invalid(err, "unknown time unit \"%.*s\" in \"%s\" (expected ns, us, ms, s, m, h, d or w)",
					  (int)ulen, u, s);
		if (n != 0 && unit->ns > UINT64_MAX / n)
			return zl_invalid(err, "duration \"%s\" is too large", s);
		uint64_t add = n * unit->ns;
		if (total_ns > UINT64_MAX - add)
			return zl_invalid(err, "duration \"%s\" is too large", s);
		total_ns += add;
		any = true;
	}
	if (!any)
		return zl_invalid(err, "expected a duration such as \"30s\" or \"1h30m\", got \"%s\"", s);
	*ms = (int64_t)((total_ns + 999999) / 1000000);
	return 0;
}

int spec_parse_memory(const char *s, int64_t *bytes, struct zl_err *err)
{
	static const struct { const char *suffix; int shift; } units[] = {
		{ "Ki", 10 }, { "Mi", 20 }, { "Gi", 30 }, { "Ti", 40 },
	};
	const char *p = s;
	uint64_t n = 0;
	while (isdigit((unsigned char)*p)) {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > (1ULL << 40)) /* beyond any unit's range; also stops overflow */
			return zl_invalid(err, "memory \"%s\" is too large", s);
		p++;
	}
	int shift = -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].suffix) == 0)
			shift = units[i].shift;
	if (p == s || shift < 0)
		return zl_invalid(err, "expected <n>Ki|Mi|Gi|Ti, got \"%s\"", s);
	if (n == 0)
		return zl_invalid(err, "expected <n>Ki|Mi|Gi|Ti with n > 0, got \"%s\"", s);
	if (n > (UINT64_MAX >> 1) >> shift)
		return zl_invalid(err, "memory \"%s\" is too large", s);
	*bytes = (int64_t)(n << shift);
	return 0;
}

int spec_parse_cpu(const char *s, bool quoted, int64_t *millicores, struct zl_err *err)
{
	if (quoted)
		return zl_invalid(err, "expected a number of cores such as 0.5 (unquoted), got the string \"%s\"", s);
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	/* strtod also takes hex, "inf" and "nan": YAML numbers are decimal. */
	bool decimal = *s && strspn(s, "0123456789.+-eE") == strlen(s);
	if (!decimal || end == s || *end || errno || !isfinite(v))
		return zl_invalid(err, "expected a number of cores such as 0.5, got \"%s\"", s);
	if (v <= 0)
		return zl_invalid(err, "expected a number of cores > 0, got %s", s);
	if (v > 100000)
		return zl_invalid(err, "cpu %s is too large", s);
	int64_t m = (int64_t)(v * 1000.0 + 0.5); /* v > 0: rounds to nearest, no libm */
	if (m < 1)
		return zl_invalid(err, "cpu %s is below the smallest unit (0.001)", s);
	*millicores = m;
	return 0;
}

static const struct { const char *name; int signo; } signals[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
	{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "BUS", SIGBUS }, { "FPE", SIGFPE },
	{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "STKFLT", SIGSTKFLT },
	{ "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "TSTP", SIGTSTP },
	{ "TTIN", SIGTTIN }, { "TTOU", SIGTTOU }, { "URG", SIGURG }, { "XCPU", SIGXCPU },
	{ "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH },
	{ "IO", SIGIO }, { "PWR", SIGPWR }, { "SYS", SIGSYS },
};

int spec_parse_signal(const char *s, int *signo, struct zl_err *err)
{
	if (*s && strspn(s, "0123456789") == strlen(s)) {
		long n = strtol(s, NULL, 10);
		if (strlen(s) > 3 || n < 1 || n > 64)
			return zl_invalid(err, "signal number %s is out of range (1..64)", s);
		*signo = (int)n;
		return 0;
	}
	const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (strcasecmp(name, signals[i].name) == 0) {
			*signo = signals[i].signo;
			return 0;
		}
	}
	return zl_invalid(err, "unknown signal \"%s\" (expected a name such as SIGTERM or a number)", s);
}

const char *spec_signal_name(int signo)
{
	static const char *const names[] = {
		"SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
		"SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM",
		"SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU",
		"SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",
		"SIGPWR", "SIGSYS",
	};
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (signals[i].signo == signo)
			return names[i];
	return NULL;
}
