/* cron.c: cron expressions (ZLayer's 6/7-field form with seconds first, and
 * the classic 5-field form) and the next fire time in UTC.
 *
 * Day matching follows POSIX cron: when both day-of-month and day-of-week are
 * restricted, a day matches if either matches. */
#include "spec.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

enum { F_SEC, F_MIN, F_HOUR, F_MDAY, F_MON, F_WDAY, F_YEAR };

struct field_def {
	const char *what;
	int lo, hi;
	const char *const *names; /* names[i] is value lo + i */
};

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
					   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const wday_names[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN" };

static const struct field_def field_defs[] = {
	[F_SEC] = { "second", 0, 59, NULL },
	[F_MIN] = { "minute", 0, 59, NULL },
	[F_HOUR] = { "hour", 0, 23, NULL },
	[F_MDAY] = { "day of month", 1, 31, NULL },
	[F_MON] = { "month", 1, 12, month_names },
	[F_WDAY] = { "day of week", 0, 7, wday_names },
	[F_YEAR] = { "year", 2000, 2191, NULL },
};

static int parse_value(const struct field_def *def, const char **p, int *out)
{
	const char *s = *p;
	if (isdigit((unsigned char)*s)) {
		long v = 0;
		while (isdigit((unsigned char)*s) && v < 100000)
			v = v * 10 + (*s++ - '0');
		if (isdigit((unsigned char)*s) || v < def->lo || v > def->hi)
			return -1;
		*out = (int)v;
		*p = s;
		return 0;
	}
	if (def->names && isalpha((unsigned char)s[0]) && isalpha((unsigned char)s[1]) &&
	    isalpha((unsigned char)s[2]) && !isalpha((unsigned char)s[3])) {
		for (int i = 0; i <= def->hi - def->lo; i++) {
			if (strncasecmp(s, def->names[i], 3) == 0) {
				*out = def->lo + i;
				*p = s + 3;
				return 0;
			}
		}
	}
	return -1;
}

/* One field: a comma list of '*', '?', a, a-b, each optionally "/step".
 * Sets bits in *bits (bit v - base for value v) and *star when unrestricted. */
static int parse_field(int f, const char *text, uint64_t bits[3], bool *star, struct zl_err *err)
{
	const struct field_def *def = &field_defs[f];
	*star = false;
	const char *p = text;
	for (;;) {
		int lo, hi, step = 1;
		bool item_star = false;
		if (*p == '*' || (*p == '?' && (f == F_MDAY || f == F_WDAY))) {
			lo = def->lo;
			hi = f == F_WDAY ? 6 : def->hi;
			item_star = true;
			p++;
		} else {
			if (parse_value(def, &p, &lo) < 0)
				goto bad;
			hi = lo;
			if (*p == '-') {
				p++;
				if (parse_value(def, &p, &hi) < 0)
					goto bad;
				if (hi < lo && !(f == F_WDAY && hi == 0))
					return zl_invalid(err, "%s range \"%s\" runs backwards", def->what, text);
				if (f == F_WDAY && hi == 0)
					hi = 7; /* "FRI-SUN" */
			}
		}
		if (*p == '/') {
			p++;
			int s = 0;
			if (!isdigit((unsigned char)*p))
				goto bad;
			while (isdigit((unsigned char)*p) && s < 10000)
				s = s * 10 + (*p++ - '0');
			if (s < 1 || s > def->hi - def->lo + 1)
				return zl_invalid(err, "%s step in \"%s\" must be 1..%d", def->what, text,
						  def->hi - def->lo + 1);
			step = s;
			if (!item_star && hi == lo)
				hi = f == F_WDAY ? 6 : def->hi; /* "5/15" = from 5 on */
			item_star = false;
		}
		if (item_star)
			*star = true;
		for (int v = lo; v <= hi; v += step) {
			int bit = (f == F_WDAY && v == 7) ? 0 : v - (f == F_YEAR ? 2000 : 0);
			bits[bit / 64] |= 1ULL << (bit % 64);
		}
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == '\0')
			return 0;
		goto bad;
	}
bad:
	return zl_invalid(err, "invalid %s field \"%s\" (expected *, a value %d-%d%s, a range a-b, a list a,b or a step */n)",
			  def->what, text, def->lo, def->hi,
			  f == F_MON ? " or JAN-DEC" : f == F_WDAY ? " or SUN-SAT" : "");
}

static const struct { const char *name; const char *expr; } cron_macros[] = {
	{ "@yearly", "0 0 0 1 1 *" }, { "@annually", "0 0 0 1 1 *" },
	{ "@monthly", "0 0 0 1 * *" }, { "@weekly", "0 0 0 * * 0" },
	{ "@daily", "0 0 0 * * *" }, { "@midnight", "0 0 0 * * *" },
	{ "@hourly", "0 0 * * * *" },
};

int spec_parse_cron(const char *expr, struct spec_cron *cron, struct zl_err *err)
{
	memset(cron, 0, sizeof(*cron));
	for (size_t i = 0; i < sizeof(cron_macros) / sizeof(cron_macros[0]); i++)
		if (strcasecmp(expr, cron_macros[i].name) == 0)
			expr = cron_macros[i].expr;

	char buf[256];
	if (strlen(expr) >= sizeof(buf))
		return zl_invalid(err, "cron expression is too long");
	snprintf(buf, sizeof(buf), "%s", expr);
	char *fields[8];
	int n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (n == 8)
			break;
		fields[n++] = tok;
	}
	if (n < 5 || n > 7)
		return zl_invalid(err, "expected 5 fields (min hour dom mon dow), 6 (sec min hour dom mon dow) or 7 (... year), got %d in \"%s\"",
				  n, expr);
	int first = n == 5 ? F_MIN : F_SEC;
	if (n == 5)
		cron->seconds = 1; /* second 0 */
	cron->any_year = true;
	for (int i = 0; i < n; i++) {
		int f = first + i;
		uint64_t bits[3] = { 0, 0, 0 };
		bool star = false;
		if (parse_field(f, fields[i], bits, &star, err) < 0)
			return -1;
		switch (f) {
		case F_SEC: cron->seconds = bits[0]; break;
		case F_MIN: cron->minutes = bits[0]; break;
		case F_HOUR: cron->hours = (uint32_t)bits[0]; break;
		case F_MDAY: cron->mdays = (uint32_t)bits[0]; cron->mday_star = star; break;
		case F_MON: cron->months = (uint16_t)bits[0]; break;
		case F_WDAY: cron->wdays = (uint8_t)bits[0]; cron->wday_star = star; break;
		case F_YEAR:
			if (star)
				break;
			cron->any_year = false;
			memcpy(cron->years, bits, sizeof(bits));
			cron->year_min = 2191;
			cron->year_max = 2000;
			for (int y = 0; y < 192; y++) {
				if (bits[y / 64] & (1ULL << (y % 64))) {
					if (2000 + y < cron->year_min)
						cron->year_min = (uint16_t)(2000 + y);
					cron->year_max = (uint16_t)(2000 + y);
				}
			}
			break;
		}
	}
	return 0;
}

/* ---- next fire time: civil-date arithmetic in UTC (no timegm/TZ) ---- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool year_ok(const struct spec_cron *c, int64_t y)
{
	if (c->any_year)
		return true;
	if (y < 2000 || y > 2191)
		return false;
	int b = (int)(y - 2000);
	return (c->years[b / 64] >> (b % 64)) & 1;
}

static bool day_ok(const struct spec_cron *c, int64_t days, int mday)
{
	int wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
	bool dom = (c->mdays >> mday) & 1;
	bool dow = (c->wdays >> wday) & 1;
	if (c->mday_star && c->wday_star)
		return true;
	if (c->mday_star)
		return dow;
	if (c->wday_star)
		return dom;
	return dom || dow;
}

/* Smallest allowed value >= from in bits, or -1. */
static int next_bit(uint64_t bits, int from, int max)
{
	for (int v = from; v <= max; v++)
		if ((bits >> v) & 1)
			return v;
	return -1;
}

int64_t spec_cron_next(const struct spec_cron *cron, int64_t after_s)
{
	if (!cron->seconds || !cron->minutes || !cron->hours || !cron->months ||
	    (!cron->mdays && !cron->wdays))
		return -1;
	int64_t t = after_s + 1;
	int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	int64_t sod = t - days * 86400;
	int64_t y;
	int m, d;
	civil_from_days(days, &y, &m, &d);
	int64_t limit = y + 5;
	if (!cron->any_year && cron->year_max > limit)
		limit = cron->year_max;
	int hh = (int)(sod / 3600), mm = (int)(sod / 60 % 60), ss = (int)(sod % 60);

	while (y <= limit) {
		if (!year_ok(cron, y)) {
			y++, m = 1, d = 1, hh = mm = ss = 0;
			continue;
		}
		if (!((cron->months >> m) & 1)) {
			if (++m > 12)
				y++, m = 1;
			d = 1, hh = mm = ss = 0;
			continue;
		}
		days = days_from_civil(y, m, d);
		if (!day_ok(cron, days, d)) {
			civil_from_days(days + 1, &y, &m, &d);
			hh = mm = ss = 0;
			continue;
		}
		int h = next_bit(cron->hours, hh, 23);
		if (h < 0) {
			civil_from_days(days + 1, &y, &m, &d);
			hh = mm = ss = 0;
			continue;
		}
		if (h != hh)
			hh = h, mm = ss = 0;
		int mi = next_bit(cron->minutes, mm, 59);
		if (mi < 0) {
			hh++, mm = ss = 0;
			if (hh == 24) {
				civil_from_days(days + 1, &y, &m, &d);
				hh = 0;
			}
			continue;
		}
		if (mi != mm)
			mm = mi, ss = 0;
		int s = next_bit(cron->seconds, ss, 59);
		if (s < 0) {
			mm++, ss = 0;
			if (mm == 60)
				hh++, mm = 0;
			if (hh == 24) {
				civil_from_days(days + 1, &y, &m, &d);
				hh = 0;
			}
			continue;
		}
		return days * 86400 + hh * 3600 + mm * 60 + s;
	}
	return -1;
}
