/* test_plan.c: the pure planner, table-driven.
 *
 * Each case is what a user would see from `zlapply --dry-run`: the desired
 * services of deployment "demo", the replica rows zlapply has recorded (any
 * deployment), the time, and the exact action lines, in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>

#include "reconcile/plan.h"

#define MAX_DESIRED 4
#define MAX_ROWS 12
#define MAX_LINES 12

/* Section texts: what spec_service_hash() records next to the hash. */
#define SEC_A "{\"image\":\"i1\",\"env\":\"e1\",\"resources\":\"r1\"}"
#define SEC_ENV "{\"image\":\"i1\",\"env\":\"e2\",\"resources\":\"r1\"}"
#define SEC_IMAGE "{\"image\":\"i2\",\"env\":\"e1\",\"resources\":\"r1\"}"
#define SEC_ENV_RES "{\"image\":\"i1\",\"env\":\"e2\",\"resources\":\"r2\"}"

struct dsvc {
	const char *name;
	int replicas;
	const char *hash;     /* NULL = "h1" */
	const char *sections; /* NULL = SEC_A */
	enum spec_rtype rtype;
	enum spec_restart_kind restart;
	enum spec_panic_action panic;
	int max_attempts;
	/* cron (rtype SPEC_RTYPE_CRON): the schedule and what is recorded */
	const char *schedule;
	bool has_schedule;
	int64_t last_s, next_s;
	bool force; /* `zlapply run` */
};

struct arow {
	const char *dep; /* NULL = "demo" */
	const char *svc;
	int index;
	enum state_replica_state state;
	const char *hash;     /* NULL = "h1"; "-" = no hash recorded */
	const char *sections; /* NULL = SEC_A; "-" = none recorded */
	int exit_code;
	int exit_signal;
	const char *exit_reason;
	int restarts;
	int64_t backoff_until;
};

struct plan_case {
	const char *name;
	struct dsvc desired[MAX_DESIRED];
	struct arow rows[MAX_ROWS]; /* sorted by deployment, service, index */
	int64_t now;
	const char *expect[MAX_LINES];
	const char *only; /* desired.only_service */
	/* schedule bookkeeping: "@ svc last=TIME next=TIME (note)", "@ svc remove" */
	const char *expect_schedules[MAX_LINES];
};

#define RUN STATE_REPLICA_RUNNING
#define EXITED STATE_REPLICA_EXITED

/* Rows: a running replica of the current spec "h1" (UP; UP_IN for another
 * deployment), a running replica of spec h (AT), an exited replica (EXIT). */
#define UP(s, i) { .svc = (s), .index = (i), .state = RUN, .exit_code = -1 }
#define UP_IN(d, s, i, h)                                                                      \
	{ .dep = (d), .svc = (s), .index = (i), .state = RUN, .hash = (h), .exit_code = -1 }
#define AT(s, i, h, sec)                                                                       \
	{ .svc = (s), .index = (i), .state = RUN, .hash = (h), .sections = (sec), .exit_code = -1 }
#define EXIT(s, i, code)                                                                       \
	{ .svc = (s), .index = (i), .state = EXITED, .exit_code = (code), .exit_reason = "exited" }

static const struct plan_case cases[] = {
	/* ---- the cases the issue requires ---- */
	{
		.name = "converged deployment plans nothing",
		.desired = { { "web", 3 }, { "api", 2 } },
		.rows = { UP("api", 1), UP("api", 2), UP("web", 1), UP("web", 2), UP("web", 3) },
		.expect = { NULL },
	},
	{
		.name = "scale up creates the missing indexes in order",
		.desired = { { "web", 5 } },
		.rows = { UP("web", 1), UP("web", 2), UP("web", 3) },
		.expect = { "+ create web-rep-4", "+ create web-rep-5" },
	},
	{
		.name = "first apply creates every replica",
		.desired = { { "web", 3 } },
		.expect = { "+ create web-rep-1", "+ create web-rep-2", "+ create web-rep-3" },
	},
	{
		.name = "scale down removes the highest index first",
		.desired = { { "web", 2 } },
		.rows = { UP("web", 1), UP("web", 2), UP("web", 3), UP("web", 4), UP("web", 5) },
		.expect = { "- remove web-rep-5 (scale to 2)", "- remove web-rep-4 (scale to 2)",
			    "- remove web-rep-3 (scale to 2)" },
	},
	{
		.name = "scale to 0 removes every replica",
		.desired = { { "web", 0 } },
		.rows = { UP("web", 1), UP("web", 2), UP("web", 3) },
		.expect = { "- remove web-rep-3 (scale to 0)", "- remove web-rep-2 (scale to 0)",
			    "- remove web-rep-1 (scale to 0)" },
	},
	{
		.name = "env change recreates each replica, one action per replica, in index order",
		.desired = { { "web", 3, "h2", SEC_ENV } },
		.rows = { UP("web", 1), UP("web", 2), UP("web", 3) },
		.expect = { "~ recreate web-rep-1 (env changed)", "~ recreate web-rep-2 (env changed)",
			    "~ recreate web-rep-3 (env changed)" },
	},
	{
		.name = "image change names the image section",
		.desired = { { "web", 2, "h2", SEC_IMAGE } },
		.rows = { UP("web", 1), UP("web", 2) },
		.expect = { "~ recreate web-rep-1 (image changed)",
			    "~ recreate web-rep-2 (image changed)" },
	},
	{
		.name = "two changed sections are both named",
		.desired = { { "web", 1, "h2", SEC_ENV_RES } },
		.rows = { UP("web", 1) },
		.expect = { "~ recreate web-rep-1 (env, resources changed)" },
	},
	{
		.name = "only replicas with an old hash are recreated (resumed rollout)",
		.desired = { { "web", 3, "h2", SEC_ENV } },
		.rows = { AT("web", 1, "h2", SEC_ENV), UP("web", 2), AT("web", 3, "h2", SEC_ENV) },
		.expect = { "~ recreate web-rep-2 (env changed)" },
	},
	{
		.name = "spec change with scale down: removes first, never recreates a doomed replica",
		.desired = { { "web", 2, "h2", SEC_ENV } },
		.rows = { UP("web", 1), UP("web", 2), UP("web", 3) },
		.expect = { "- remove web-rep-3 (scale to 2)", "~ recreate web-rep-1 (env changed)",
			    "~ recreate web-rep-2 (env changed)" },
	},
	{
		.name = "spec change with scale up: recreate existing, create new, by index",
		.desired = { { "web", 3, "h2", SEC_ENV } },
		.rows = { UP("web", 1), UP("web", 2) },
		.expect = { "~ recreate web-rep-1 (env changed)", "~ recreate web-rep-2 (env changed)",
			    "+ create web-rep-3" },
	},
	{
		.name = "a service dropped from the spec is removed, highest index first",
		.desired = { { "web", 1 } },
		.rows = { UP("old", 1), UP("old", 2), UP("old", 3), UP("web", 1) },
		.expect = { "- remove old-rep-3 (service removed from the spec)",
			    "- remove old-rep-2 (service removed from the spec)",
			    "- remove old-rep-1 (service removed from the spec)" },
	},
	{
		.name = "dropped services go before the remaining services' actions",
		.desired = { { "web", 2 } },
		.rows = { UP("zzz", 1) },
		.expect = { "- remove zzz-rep-1 (service removed from the spec)", "+ create web-rep-1",
			    "+ create web-rep-2" },
	},
	{
		.name = "an empty spec removes everything of the deployment",
		.desired = { { NULL } },
		.rows = { UP("api", 1), UP("web", 1), UP("web", 2) },
		.expect = { "- remove web-rep-2 (service removed from the spec)",
			    "- remove web-rep-1 (service removed from the spec)",
			    "- remove api-rep-1 (service removed from the spec)" },
	},
	{
		.name = "other deployments' replicas with the same service names are ignored",
		.desired = { { "web", 2 } },
		.rows = { UP_IN("alpha", "old", 1, "x"), UP_IN("alpha", "web", 1, "x"),
			  UP_IN("alpha", "web", 2, "x"), UP_IN("alpha", "web", 3, "x"), UP("web", 1),
			  UP("web", 2), UP_IN("zeta", "old", 1, "x"), UP_IN("zeta", "web", 5, "x") },
		.expect = { NULL },
	},
	{
		.name = "another deployment's replicas do not count toward this one's",
		.desired = { { "web", 2 } },
		.rows = { UP_IN("alpha", "web", 1, NULL), UP_IN("alpha", "web", 2, NULL),
			  UP_IN("zeta", "web", 1, NULL) },
		.expect = { "+ create web-rep-1", "+ create web-rep-2" },
	},
	{
		.name = "services are planned in the order of desired (dependencies first)",
		.desired = { { "zdb", 2 }, { "api", 1, "h2", SEC_ENV }, { "mweb", 1 } },
		.rows = { UP("api", 1), UP("api", 2), UP("mweb", 1), UP("mweb", 2) },
		.expect = { "+ create zdb-rep-1", "+ create zdb-rep-2", "- remove api-rep-2 (scale to 1)",
			    "~ recreate api-rep-1 (env changed)", "- remove mweb-rep-2 (scale to 1)" },
	},
	{
		.name = "a gap in the indexes is filled, a row past the count removed",
		.desired = { { "web", 3 } },
		.rows = { UP("web", 1), UP("web", 3), UP("web", 4) },
		.expect = { "- remove web-rep-4 (scale to 3)", "+ create web-rep-2" },
	},

	/* ---- exited replicas and the restart policy ---- */
	{
		.name = "restart_policy no: an exited replica stays exited",
		.desired = { { "web", 1, .restart = SPEC_RESTART_NO } },
		.rows = { EXIT("web", 1, 1) },
		.expect = { NULL },
	},
	{
		.name = "restart_policy on_failure: exit 0 stays exited",
		.desired = { { "web", 1, .restart = SPEC_RESTART_ON_FAILURE } },
		.rows = { EXIT("web", 1, 0) },
		.expect = { NULL },
	},
	{
		.name = "restart_policy on_failure: exit 1 is restarted",
		.desired = { { "web", 1, .restart = SPEC_RESTART_ON_FAILURE } },
		.rows = { EXIT("web", 1, 1) },
		.expect = { "> restart web-rep-1 (exited 1)" },
	},
	{
		.name = "restart_policy on_failure: max_attempts reached stays exited",
		.desired = { { "web", 2, .restart = SPEC_RESTART_ON_FAILURE, .max_attempts = 3 } },
		.rows = { { .svc = "web", .index = 1, .state = EXITED, .exit_code = 2, .restarts = 3 },
			  { .svc = "web", .index = 2, .state = EXITED, .exit_code = 2, .restarts = 2 } },
		.expect = { "> restart web-rep-2 (exited 2)" },
	},
	{
		.name = "restart_policy always: even exit 0 is restarted",
		.desired = { { "web", 1, .restart = SPEC_RESTART_ALWAYS } },
		.rows = { EXIT("web", 1, 0) },
		.expect = { "> restart web-rep-1 (exited 0)" },
	},
	{
		.name = "no restart_policy, on_panic restart: restarted",
		.desired = { { "web", 1, .restart = SPEC_RESTART_UNSET, .panic = SPEC_PANIC_RESTART } },
		.rows = { EXIT("web", 1, 1) },
		.expect = { "> restart web-rep-1 (exited 1)" },
	},
	{
		.name = "no restart_policy, on_panic shutdown: stays exited",
		.desired = { { "web", 1, .restart = SPEC_RESTART_UNSET, .panic = SPEC_PANIC_SHUTDOWN } },
		.rows = { EXIT("web", 1, 1) },
		.expect = { NULL },
	},
	{
		.name = "no restart_policy, on_panic isolate: stays exited",
		.desired = { { "web", 1, .restart = SPEC_RESTART_UNSET, .panic = SPEC_PANIC_ISOLATE } },
		.rows = { EXIT("web", 1, 1) },
		.expect = { NULL },
	},
	{
		.name = "unless_stopped: a replica stopped on purpose stays stopped",
		.desired = { { "web", 2, .restart = SPEC_RESTART_UNLESS_STOPPED } },
		.rows = { { .svc = "web", .index = 1, .state = STATE_REPLICA_STOPPED, .exit_code = 143,
			    .exit_signal = 15 },
			  EXIT("web", 2, 1) },
		.expect = { "> restart web-rep-2 (exited 1)" },
	},
	{
		.name = "a signal is named in the reason",
		.desired = { { "web", 1 } },
		.rows = { { .svc = "web", .index = 1, .state = EXITED, .exit_code = 137, .exit_signal = 9,
			    .exit_reason = "signal" } },
		.expect = { "> restart web-rep-1 (killed by SIGKILL)" },
	},
	{
		.name = "an OOM kill is named in the reason",
		.desired = { { "web", 1 } },
		.rows = { { .svc = "web", .index = 1, .state = EXITED, .exit_code = 137,
			    .exit_reason = "oom_killed" } },
		.expect = { "> restart web-rep-1 (oom killed)" },
	},
	{
		.name = "back-off deadline in the future: not yet",
		.desired = { { "web", 1, .restart = SPEC_RESTART_ALWAYS } },
		.rows = { { .svc = "web", .index = 1, .state = EXITED, .exit_code = 1,
			    .backoff_until = 20000 } },
		.now = 10000,
		.expect = { NULL },
	},
	{
		.name = "back-off deadline in the past: restarted",
		.desired = { { "web", 1, .restart = SPEC_RESTART_ALWAYS } },
		.rows = { { .svc = "web", .index = 1, .state = EXITED, .exit_code = 1,
			    .backoff_until = 20000 } },
		.now = 30000,
		.expect = { "> restart web-rep-1 (exited 1)" },
	},
	{
		.name = "back-off deadline exactly now: restarted",
		.desired = { { "web", 1, .restart = SPEC_RESTART_ALWAYS } },
		.rows = { { .svc = "web", .index = 1, .state = EXITED, .exit_code = 1,
			    .backoff_until = 20000 } },
		.now = 20000,
		.expect = { "> restart web-rep-1 (exited 1)" },
	},
	{
		.name = "a job that ran to completion is not run again",
		.desired = { { "migrate", 1, .rtype = SPEC_RTYPE_JOB, .restart = SPEC_RESTART_ALWAYS } },
		.rows = { EXIT("migrate", 1, 0) },
		.expect = { NULL },
	},
	{
		.name = "a job not run yet is created",
		.desired = { { "migrate", 1, .rtype = SPEC_RTYPE_JOB } },
		.expect = { "+ create migrate-rep-1" },
	},
	{
		.name = "an exited replica whose spec changed is recreated, not restarted",
		.desired = { { "web", 1, "h2", SEC_ENV, .restart = SPEC_RESTART_ALWAYS } },
		.rows = { EXIT("web", 1, 1) },
		.expect = { "~ recreate web-rep-1 (env changed)" },
	},

	/* ---- other states ---- */
	{
		.name = "a replica that failed before is recreated",
		.desired = { { "web", 3 } },
		.rows = { UP("web", 1), { .svc = "web", .index = 2, .state = STATE_REPLICA_FAILED },
			  UP("web", 3) },
		.expect = { "~ recreate web-rep-2 (failed before)" },
	},
	{
		.name = "a replica the backend lost is recreated",
		.desired = { { "web", 2 } },
		.rows = { { .svc = "web", .index = 1, .state = STATE_REPLICA_UNKNOWN }, UP("web", 2) },
		.expect = { "~ recreate web-rep-1 (lost by the backend)" },
	},
	{
		.name = "in-flight rows left over are replaced",
		.desired = { { "web", 2 } },
		.rows = { { .svc = "web", .index = 1, .state = STATE_REPLICA_CREATING },
			  { .svc = "web", .index = 2, .state = STATE_REPLICA_REMOVING } },
		.expect = { "~ recreate web-rep-1 (interrupted)", "~ recreate web-rep-2 (interrupted)" },
	},
	{
		.name = "a row without a recorded hash is recreated",
		.desired = { { "web", 1 } },
		.rows = { { .svc = "web", .index = 1, .state = RUN, .hash = "-", .sections = "-" } },
		.expect = { "~ recreate web-rep-1 (spec changed)" },
	},
};

/* ---- restarts, jobs and cron ---- */

/* 2026-01-01T00:00:00Z in seconds and ms; MIN(m) = m minutes later in ms. */
#define T0 1767225600LL
#define AT_S(s) ((T0 + (s)) * 1000)
#define MIN(m) AT_S((m) * 60)
#define ROW(s, i, st, code) { .svc = (s), .index = (i), .state = (st), .exit_code = (code) }

static const struct plan_case job_cases[] = {
	{
		.name = "job: a failure is retried by default (on_failure, 3 attempts)",
		.desired = { { "migrate", 1, .rtype = SPEC_RTYPE_JOB } },
		.rows = { EXIT("migrate", 1, 2) },
		.expect = { "> restart migrate-rep-1 (exited 2)" },
	},
	{
		.name = "job: the default 3 attempts used up: stays failed",
		.desired = { { "migrate", 1, .rtype = SPEC_RTYPE_JOB } },
		.rows = { { .svc = "migrate", .index = 1, .state = EXITED, .exit_code = 2,
			    .restarts = 3 } },
		.expect = { NULL },
	},
	{
		.name = "job: a signal is a failure too",
		.desired = { { "migrate", 1, .rtype = SPEC_RTYPE_JOB } },
		.rows = { { .svc = "migrate", .index = 1, .state = EXITED, .exit_code = 137,
			    .exit_signal = 9, .restarts = 2 } },
		.expect = { "> restart migrate-rep-1 (killed by SIGKILL)" },
	},
	{
		.name = "job: restart_policy no: a failure stays",
		.desired = { { "migrate", 1, .rtype = SPEC_RTYPE_JOB, .restart = SPEC_RESTART_NO } },
		.rows = { EXIT("migrate", 1, 1) },
		.expect = { NULL },
	},
	{
		.name = "job: on_panic shutdown without restart_policy: no retry",
		.desired = { { "migrate", 1, .rtype = SPEC_RTYPE_JOB, .panic = SPEC_PANIC_SHUTDOWN } },
		.rows = { EXIT("migrate", 1, 1) },
		.expect = { NULL },
	},
	{
		.name = "job: on_failure max_attempts 5: the 5th retry runs, the 6th does not",
		.desired = { { "migrate", 2, .rtype = SPEC_RTYPE_JOB,
			       .restart = SPEC_RESTART_ON_FAILURE, .max_attempts = 5 } },
		.rows = { { .svc = "migrate", .index = 1, .state = EXITED, .exit_code = 1,
			    .restarts = 4 },
			  { .svc = "migrate", .index = 2, .state = EXITED, .exit_code = 1,
			    .restarts = 5 } },
		.expect = { "> restart migrate-rep-1 (exited 1)" },
	},
	{
		.name = "job: on_failure without max_attempts retries without end",
		.desired = { { "migrate", 1, .rtype = SPEC_RTYPE_JOB,
			       .restart = SPEC_RESTART_ON_FAILURE } },
		.rows = { { .svc = "migrate", .index = 1, .state = EXITED, .exit_code = 1,
			    .restarts = 500 } },
		.expect = { "> restart migrate-rep-1 (exited 1)" },
	},
	{
		.name = "job: exit 0 is done even with restart_policy always",
		.desired = { { "migrate", 1, .rtype = SPEC_RTYPE_JOB, .restart = SPEC_RESTART_ALWAYS } },
		.rows = { EXIT("migrate", 1, 0) },
		.expect = { NULL },
	},
	{
		.name = "job: backing off: not yet (1 ms before the deadline)",
		.desired = { { "migrate", 1, .rtype = SPEC_RTYPE_JOB } },
		.rows = { { .svc = "migrate", .index = 1, .state = EXITED, .exit_code = 1,
			    .restarts = 1, .backoff_until = 50000 } },
		.now = 49999,
		.expect = { NULL },
	},
	{
		.name = "job: back-off over: retried at the deadline",
		.desired = { { "migrate", 1, .rtype = SPEC_RTYPE_JOB } },
		.rows = { { .svc = "migrate", .index = 1, .state = EXITED, .exit_code = 1,
			    .restarts = 1, .backoff_until = 50000 } },
		.now = 50000,
		.expect = { "> restart migrate-rep-1 (exited 1)" },
	},
	{
		.name = "job: a running job is left alone",
		.desired = { { "migrate", 1, .rtype = SPEC_RTYPE_JOB } },
		.rows = { UP("migrate", 1) },
		.expect = { NULL },
	},
	{
		.name = "job: a changed spec runs it again",
		.desired = { { "migrate", 1, "h2", SEC_ENV, .rtype = SPEC_RTYPE_JOB } },
		.rows = { EXIT("migrate", 1, 0) },
		.expect = { "~ recreate migrate-rep-1 (env changed)" },
	},
	{
		.name = "job: zlapply run: a done job runs again, a missing replica is created",
		.desired = { { "migrate", 2, .rtype = SPEC_RTYPE_JOB, .force = true } },
		.rows = { EXIT("migrate", 1, 0) },
		.only = "migrate",
		.expect = { "~ recreate migrate-rep-1 (run requested)",
			    "+ create migrate-rep-2 (run requested)" },
	},
	{
		.name = "zlapply run touches no other service, not even one that left the spec",
		.desired = { { "web", 2 }, { "migrate", 1, .rtype = SPEC_RTYPE_JOB, .force = true } },
		.rows = { UP("migrate", 1), UP("old", 1), EXIT("web", 1, 1) },
		.only = "migrate",
		.expect = { "~ recreate migrate-rep-1 (run requested)" },
	},
	{
		.name = "service: back-off 1 ms before the deadline: not yet",
		.desired = { { "web", 1 } },
		.rows = { { .svc = "web", .index = 1, .state = EXITED, .exit_code = 1, .restarts = 3,
			    .backoff_until = 40000 } },
		.now = 39999,
		.expect = { NULL },
	},
	{
		.name = "service: a former cron service's schedule is dropped",
		.desired = { { "web", 1, .has_schedule = true, .last_s = T0 } },
		.rows = { UP("web", 1) },
		.expect_schedules = { "@ web remove" },
	},

	/* ---- cron: 5-field (minute first) ---- */
	{
		.name = "cron: the first apply starts the schedule, runs nothing",
		.desired = { { "backup", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "*/15 * * * *" } },
		.now = MIN(7),
		.expect = { NULL },
		.expect_schedules = { "@ backup last=2026-01-01T00:07:00Z next=2026-01-01T00:15:00Z" },
	},
	{
		.name = "cron 5 fields: 1 s before the time: nothing",
		.desired = { { "backup", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "*/15 * * * *",
			       .has_schedule = true, .last_s = T0, .next_s = T0 + 900 } },
		.now = AT_S(899),
		.expect = { NULL },
	},
	{
		.name = "cron 5 fields: at the time: the first run is created",
		.desired = { { "backup", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "*/15 * * * *",
			       .has_schedule = true, .last_s = T0, .next_s = T0 + 900 } },
		.now = AT_S(900),
		.expect = { "+ create backup-rep-1 (scheduled 2026-01-01T00:15:00Z)" },
	},
	{
		.name = "cron: the next run replaces the finished one",
		.desired = { { "backup", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "*/15 * * * *",
			       .has_schedule = true, .last_s = T0 + 900, .next_s = T0 + 1800 } },
		.rows = { EXIT("backup", 1, 0) },
		.now = MIN(31),
		.expect = { "~ recreate backup-rep-1 (scheduled 2026-01-01T00:30:00Z)" },
	},
	{
		.name = "cron: missed runs collapse into one, for the latest time",
		.desired = { { "backup", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "*/15 * * * *",
			       .has_schedule = true, .last_s = T0, .next_s = T0 + 900 } },
		.rows = { EXIT("backup", 1, 1) },
		.now = MIN(3 * 60 + 5),
		.expect = { "~ recreate backup-rep-1 (scheduled 2026-01-01T03:00:00Z)" },
	},
	{
		.name = "cron: a run still active: no overlap, the time is skipped",
		.desired = { { "backup", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "*/15 * * * *",
			       .has_schedule = true, .last_s = T0, .next_s = T0 + 900 } },
		.rows = { UP("backup", 1) },
		.now = MIN(16),
		.expect = { NULL },
		.expect_schedules = { "@ backup last=2026-01-01T00:15:00Z next=2026-01-01T00:30:00Z "
				      "(skipped the run scheduled for 2026-01-01T00:15:00Z)" },
	},
	{
		.name = "cron: not due, a finished run stays recorded",
		.desired = { { "backup", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "*/15 * * * *",
			       .has_schedule = true, .last_s = T0, .next_s = T0 + 900 } },
		.rows = { EXIT("backup", 1, 3) },
		.now = MIN(10),
		.expect = { NULL },
	},
	{
		.name = "cron: between times a failed run is retried only by an explicit policy",
		.desired = { { "backup", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "*/15 * * * *",
			       .has_schedule = true, .last_s = T0, .next_s = T0 + 900,
			       .restart = SPEC_RESTART_ON_FAILURE, .max_attempts = 2 },
			     { "report", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "*/15 * * * *",
			       .has_schedule = true, .last_s = T0, .next_s = T0 + 900 } },
		.rows = { EXIT("backup", 1, 3), EXIT("report", 1, 3) },
		.now = MIN(10),
		.expect = { "> restart backup-rep-1 (exited 3)" },
	},
	{
		.name = "cron: a changed schedule records its next time",
		.desired = { { "backup", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "0 * * * *",
			       .has_schedule = true, .last_s = T0, .next_s = T0 + 900 } },
		.now = MIN(10),
		.expect = { NULL },
		.expect_schedules = { "@ backup last=2026-01-01T00:00:00Z next=2026-01-01T01:00:00Z" },
	},
	{
		.name = "cron: zlapply run replaces even an active run",
		.desired = { { "backup", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "*/15 * * * *",
			       .has_schedule = true, .last_s = T0, .next_s = T0 + 900,
			       .force = true } },
		.rows = { UP("backup", 1) },
		.only = "backup",
		.now = MIN(1),
		.expect = { "~ recreate backup-rep-1 (run requested)" },
	},
	{
		.name = "cron: extra replicas (a former service) go",
		.desired = { { "backup", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "*/15 * * * *",
			       .has_schedule = true, .last_s = T0, .next_s = T0 + 900 } },
		.rows = { EXIT("backup", 1, 0), EXIT("backup", 2, 0) },
		.now = MIN(1),
		.expect = { "- remove backup-rep-2 (a cron service runs one replica)" },
	},

	/* ---- cron: 6 fields (seconds first, ZLayer's form) ---- */
	{
		.name = "cron 6 fields: 1 s before 03:00:30: nothing",
		.desired = { { "backup", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "30 0 3 * * *",
			       .has_schedule = true, .last_s = T0, .next_s = T0 + 3 * 3600 + 30 } },
		.now = AT_S(3 * 3600 + 29),
		.expect = { NULL },
	},
	{
		.name = "cron 6 fields: at 03:00:30: runs",
		.desired = { { "backup", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "30 0 3 * * *",
			       .has_schedule = true, .last_s = T0, .next_s = T0 + 3 * 3600 + 30 } },
		.now = AT_S(3 * 3600 + 30),
		.expect = { "+ create backup-rep-1 (scheduled 2026-01-01T03:00:30Z)" },
	},
	{
		.name = "cron 6 fields: every 10 s, a day missed: one run for the latest time",
		.desired = { { "tick", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "*/10 * * * * *",
			       .has_schedule = true, .last_s = T0, .next_s = T0 + 10 } },
		.now = AT_S(86400 + 15),
		.expect = { "+ create tick-rep-1 (scheduled 2026-01-02T00:00:10Z)" },
	},
	{
		.name = "cron 6 fields with names: MON-FRI at 09:00 skips the weekend",
		/* 2026-01-02 is a Friday: after its run the next is Monday the 5th. */
		.desired = { { "report", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "0 0 9 * * MON-FRI",
			       .has_schedule = true, .last_s = T0 + 86400 + 9 * 3600,
			       .next_s = T0 + 86400 + 9 * 3600 } },
		.now = AT_S(3 * 86400 + 12 * 3600), /* Sunday noon */
		.expect = { NULL },
		.expect_schedules = { "@ report last=2026-01-02T09:00:00Z next=2026-01-05T09:00:00Z" },
	},

	/* ---- cron: 7 fields (with a year) ---- */
	{
		.name = "cron 7 fields: 1 s before noon on 2027-01-01: nothing",
		.desired = { { "once", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "0 0 12 1 1 * 2027",
			       .has_schedule = true, .last_s = T0, .next_s = 1798804800 } },
		.now = 1798804799LL * 1000,
		.expect = { NULL },
	},
	{
		.name = "cron 7 fields: noon on 2027-01-01: runs; it never fires again",
		.desired = { { "once", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "0 0 12 1 1 * 2027",
			       .has_schedule = true, .last_s = T0, .next_s = 1798804800 } },
		.now = 1798804800LL * 1000,
		.expect = { "+ create once-rep-1 (scheduled 2027-01-01T12:00:00Z)" },
	},
};

/* ---- building inputs ---- */

struct built {
	struct spec_service svcs[MAX_DESIRED];
	struct plan_desired desired;
	struct state_replicas rows;
};

static void build(const struct plan_case *c, struct built *b)
{
	memset(b, 0, sizeof(*b));
	b->desired.deployment = "demo";
	b->desired.services = zl_xcalloc(MAX_DESIRED, sizeof(*b->desired.services));
	for (size_t i = 0; i < MAX_DESIRED && c->desired[i].name; i++) {
		const struct dsvc *d = &c->desired[i];
		struct spec_service *svc = &b->svcs[i];
		svc->name = (char *)d->name;
		svc->rtype = d->rtype;
		svc->restart_kind = d->restart;
		svc->on_panic = d->panic;
		svc->restart_max_attempts = d->max_attempts;
		svc->stop_signal = SIGTERM;
		if (d->schedule) {
			struct zl_err err = ZL_ERR_INIT;
			svc->schedule = (char *)d->schedule;
			if (spec_parse_cron(d->schedule, &svc->cron, &err) < 0)
				fail_msg("case \"%s\": %s", c->name, err.msg);
		}
		struct plan_desired_service *ds = &b->desired.services[b->desired.count++];
		ds->svc = svc;
		ds->replicas = d->replicas;
		ds->has_schedule = d->has_schedule;
		ds->cron_last_s = d->last_s;
		ds->cron_next_s = d->next_s;
		ds->force_run = d->force;
		snprintf(ds->spec_hash, sizeof(ds->spec_hash), "%s", d->hash ? d->hash : "h1");
		ds->sections = zl_xstrdup(d->sections ? d->sections : SEC_A);
	}
	b->desired.only_service = c->only;
	b->rows.items = zl_xcalloc(MAX_ROWS, sizeof(*b->rows.items));
	b->rows.cap = MAX_ROWS;
	for (size_t i = 0; i < MAX_ROWS && c->rows[i].svc; i++) {
		const struct arow *a = &c->rows[i];
		struct state_replica *r = &b->rows.items[b->rows.count++];
		state_replica_init(r);
		r->deployment = zl_xstrdup(a->dep ? a->dep : "demo");
		r->service = zl_xstrdup(a->svc);
		r->index = a->index;
		r->backend = zl_xstrdup("mock");
		r->backend_id = zl_xasprintf("zl-%s-%s-%d", r->deployment, r->service, r->index);
		r->state = a->state;
		r->pid = a->state == RUN ? 100000 + (int64_t)i : -1;
		const char *hash = a->hash ? a->hash : "h1";
		const char *sections = a->sections ? a->sections : SEC_A;
		r->spec_hash = strcmp(hash, "-") == 0 ? NULL : zl_xstrdup(hash);
		r->spec_sections = strcmp(sections, "-") == 0 ? NULL : zl_xstrdup(sections);
		r->exit_code = a->exit_code;
		r->exit_signal = a->exit_signal;
		r->exit_reason = zl_xstrdup(a->exit_reason);
		r->restarts = a->restarts;
		r->backoff_until = a->backoff_until;
	}
}

static void built_free(struct built *b)
{
	plan_desired_free(&b->desired);
	state_replicas_free(&b->rows);
}

static char *format_action(const struct plan_action *a)
{
	struct zl_buf line = { 0 };
	plan_action_format(a, &line);
	return zl_buf_steal(&line);
}

/* All actions as one text, a line each, for a readable failure message. */
static char *format_plan(const struct plan *p)
{
	struct zl_buf all = { 0 };
	for (size_t i = 0; i < p->count; i++) {
		char *line = format_action(&p->items[i]);
		zl_buf_printf(&all, "%s\n", line);
		free(line);
	}
	return zl_buf_steal(&all);
}

/* The schedule bookkeeping as lines ("@ backup last=... next=... (note)"). */
static void format_schedules(const struct plan *p, struct zl_buf *out)
{
	for (size_t i = 0; i < p->schedule_count; i++) {
		const struct plan_schedule *s = &p->schedules[i];
		if (s->remove) {
			zl_buf_printf(out, "@ %s remove\n", s->desired->svc->name);
			continue;
		}
		char last[32], next[32];
		zl_format_time(s->last_scheduled_s * 1000, last);
		zl_format_time(s->next_s * 1000, next);
		zl_buf_printf(out, "@ %s last=%s next=%s", s->desired->svc->name, last, next);
		if (s->note)
			zl_buf_printf(out, " (%s)", s->note);
		zl_buf_puts(out, "\n");
	}
}

static size_t run_table(const struct plan_case *table, size_t n)
{
	size_t failures = 0;
	for (size_t k = 0; k < n; k++) {
		const struct plan_case *c = &table[k];
		struct built b;
		build(c, &b);
		struct plan p;
		plan_compute(&b.desired, &b.rows, c->now, &p);

		struct zl_buf want = { 0 };
		for (size_t i = 0; i < MAX_LINES && c->expect[i]; i++)
			zl_buf_printf(&want, "%s\n", c->expect[i]);
		for (size_t i = 0; i < MAX_LINES && c->expect_schedules[i]; i++)
			zl_buf_printf(&want, "%s\n", c->expect_schedules[i]);
		char *want_text = zl_buf_steal(&want);
		struct zl_buf got = { 0 };
		char *actions = format_plan(&p);
		zl_buf_puts(&got, actions);
		free(actions);
		format_schedules(&p, &got);
		char *got_text = zl_buf_steal(&got);
		if (strcmp(want_text, got_text) != 0) {
			print_error("case \"%s\":\n--- expected\n%s--- got\n%s", c->name, want_text,
				    got_text);
			failures++;
		}
		/* Every action names this deployment and its own desired service
		 * (NULL only for a service that left the spec). */
		for (size_t i = 0; i < p.count; i++) {
			const struct plan_action *a = &p.items[i];
			if (strcmp(a->deployment, "demo") != 0) {
				print_error("case \"%s\": action %zu is for deployment %s\n", c->name,
					    i, a->deployment);
				failures++;
			}
			bool in_spec = false;
			for (size_t s = 0; s < b.desired.count; s++)
				in_spec |= strcmp(b.desired.services[s].svc->name, a->service) == 0;
			const struct plan_desired_service *expect_ds = NULL;
			for (size_t s = 0; in_spec && s < b.desired.count; s++)
				if (strcmp(b.desired.services[s].svc->name, a->service) == 0)
					expect_ds = &b.desired.services[s];
			if (a->desired != expect_ds) {
				print_error("case \"%s\": action %zu (%s-rep-%d) has the wrong "
					    "desired service\n",
					    c->name, i, a->service, a->index);
				failures++;
			}
		}
		free(want_text);
		free(got_text);
		plan_free(&p);
		built_free(&b);
	}
	return failures;
}

static void test_plan_table(void **state)
{
	(void)state;
	size_t failures = run_table(cases, sizeof(cases) / sizeof(cases[0]));
	if (failures)
		fail_msg("%zu planner case(s) failed", failures);
}

static void test_plan_jobs_and_cron(void **state)
{
	(void)state;
	size_t failures = run_table(job_cases, sizeof(job_cases) / sizeof(job_cases[0]));
	if (failures)
		fail_msg("%zu job/cron planner case(s) failed", failures);
}

/* A cron run carries the scheduled time and the next one for execute to record. */
static void test_plan_cron_run_carries_its_times(void **state)
{
	(void)state;
	struct plan_case c = {
		.name = "carry",
		.desired = { { "backup", 0, .rtype = SPEC_RTYPE_CRON, .schedule = "*/15 * * * *",
			       .has_schedule = true, .last_s = T0, .next_s = T0 + 900 } },
		.now = MIN(47),
	};
	struct built b;
	build(&c, &b);
	struct plan p;
	plan_compute(&b.desired, &b.rows, c.now, &p);
	assert_int_equal(p.count, 1);
	assert_int_equal(p.items[0].scheduled_s, T0 + 45 * 60);
	assert_int_equal(p.items[0].next_s, T0 + 60 * 60);
	assert_int_equal(p.schedule_count, 0);
	plan_free(&p);
	built_free(&b);
}

/* Back-off: immediate first restart, then 10s, 20s, 40s ... capped at 5 min;
 * restart_policy.delay replaces the base. */
static void test_backoff_delays(void **state)
{
	(void)state;
	struct spec_service svc = { .name = "web" };
	static const int64_t want[] = { 0, 10000, 20000, 40000, 80000, 160000, 300000, 300000 };
	for (int k = 0; k < 8; k++)
		assert_int_equal(plan_backoff_delay_ms(&svc, k), want[k]);
	assert_int_equal(plan_backoff_delay_ms(&svc, 1000000), 300000);
	svc.restart_delay_ms = 2000;
	static const int64_t want2[] = { 0, 2000, 4000, 8000, 16000 };
	for (int k = 0; k < 5; k++)
		assert_int_equal(plan_backoff_delay_ms(&svc, k), want2[k]);
	assert_int_equal(plan_backoff_delay_ms(&svc, 40), 300000);
	svc.restart_delay_ms = 600000; /* a base above the cap is the cap */
	assert_int_equal(plan_backoff_delay_ms(&svc, 1), 600000);
	assert_int_equal(plan_backoff_delay_ms(&svc, 5), 600000);
}

/* plan_note_exits: a newly seen exit gets its deadline from the exit time;
 * 10 minutes of running resets the count; no policy restart, no deadline. */
static void test_note_exits(void **state)
{
	(void)state;
	struct plan_case c = {
		.name = "exits",
		.desired = { { "job", 1, .rtype = SPEC_RTYPE_JOB },
			     { "no", 1, .restart = SPEC_RESTART_NO },
			     { "web", 4 } },
		.rows = { ROW("job", 1, RUN, -1), ROW("no", 1, RUN, -1), ROW("web", 1, RUN, -1),
			  ROW("web", 2, RUN, -1), ROW("web", 3, EXITED, 1), ROW("web", 4, RUN, -1) },
	};
	struct built b;
	build(&c, &b);
	struct state_replicas before = { 0 };
	before.items = zl_xcalloc(b.rows.count, sizeof(*before.items));
	for (size_t i = 0; i < b.rows.count; i++)
		state_replica_copy(&before.items[i], &b.rows.items[i]);
	before.count = before.cap = b.rows.count;

	int64_t now = 10000000;
	struct state_replica *r = b.rows.items;
	/* job: 2nd failure -> 10s after its exit */
	r[0].state = EXITED, r[0].exit_code = 1, r[0].restarts = 1, r[0].finished_at = now - 3000;
	r[0].started_at = now - 4000;
	/* restart_policy no: no deadline */
	r[1].state = EXITED, r[1].exit_code = 1, r[1].finished_at = now - 1000;
	r[1].backoff_until = 123;
	/* web-1: 4 restarts, crashed after 30 s: 80 s; exit time unknown: from now */
	r[2].state = EXITED, r[2].exit_code = 1, r[2].restarts = 4, r[2].started_at = now - 30000;
	/* web-2: 4 restarts but ran 10 minutes: count reset, immediate */
	r[3].state = EXITED, r[3].exit_code = 1, r[3].restarts = 4, r[3].finished_at = now - 1000,
	r[3].started_at = now - 1000 - 600000;
	/* web-3: an exit already noted keeps its deadline */
	r[4].backoff_until = 777;
	/* web-4: an exit stamped after "now" (clock skew) counts from now */
	r[5].state = EXITED, r[5].exit_code = 1, r[5].restarts = 1, r[5].finished_at = now + 5000;

	plan_note_exits(&b.desired, &before, &b.rows, now);
	assert_int_equal(r[0].backoff_until, now - 3000 + 10000);
	assert_int_equal(r[0].restarts, 1);
	assert_int_equal(r[1].backoff_until, 0);
	assert_int_equal(r[2].backoff_until, now + 80000);
	assert_int_equal(r[2].restarts, 4);
	assert_int_equal(r[3].restarts, 0);
	assert_int_equal(r[3].backoff_until, now - 1000);
	assert_int_equal(r[4].backoff_until, 777);
	assert_int_equal(r[5].backoff_until, now + 10000);

	/* A job's count never resets: attempts belong to its spec. */
	before.items[0].state = RUN;
	r[0].restarts = 2, r[0].started_at = now - 3000 - 700000;
	plan_note_exits(&b.desired, &before, &b.rows, now);
	assert_int_equal(r[0].restarts, 2);
	assert_int_equal(r[0].backoff_until, now - 3000 + 20000);

	state_replicas_free(&before);
	built_free(&b);
}

/* The latest time a cron fires in (after, now]: a table over 5-, 6- and
 * 7-field forms. */
static void test_cron_latest_due(void **state)
{
	(void)state;
	static const struct {
		const char *expr;
		int64_t after, now, want; /* seconds relative to T0; want -1 = none */
	} rows[] = {
		{ "*/15 * * * *", 0, 899, -1 },
		{ "*/15 * * * *", 0, 900, 900 },
		{ "*/15 * * * *", 0, 3 * 3600 + 1, 3 * 3600 },
		{ "*/15 * * * *", 900, 900, -1 }, /* strictly after the last */
		{ "0 3 * * *", 0, 40 * 86400, 39 * 86400 + 3 * 3600 },
		{ "30 0 3 * * *", 0, 3 * 3600 + 30, 3 * 3600 + 30 },
		{ "* * * * * *", 0, 200 * 86400 + 7, 200 * 86400 + 7 }, /* every second, 200 days */
		{ "0 0 12 1 1 * 2027", 0, 2 * 366 * 86400, 1798804800 - T0 },
		{ "0 0 12 1 1 * 2027", 1798804800 - T0, 3 * 366 * 86400, -1 },
		{ "0 0 0 29 2 *", 0, 3 * 366 * 86400, 1835395200 - T0 }, /* 2028-02-29 */
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct spec_cron cron;
		struct zl_err err = ZL_ERR_INIT;
		if (spec_parse_cron(rows[i].expr, &cron, &err) < 0)
			fail_msg("%s: %s", rows[i].expr, err.msg);
		int64_t got = plan_cron_latest_due(&cron, T0 + rows[i].after, T0 + rows[i].now);
		int64_t want = rows[i].want < 0 ? -1 : T0 + rows[i].want;
		if (got != want)
			fail_msg("%s after +%lld now +%lld: got %lld, want %lld", rows[i].expr,
				 (long long)rows[i].after, (long long)rows[i].now,
				 (long long)(got < 0 ? got : got - T0),
				 (long long)(want < 0 ? want : want - T0));
	}
}

/* ---- scale: the planner stays linear-ish and exact with many replicas ---- */

static void many_rows(struct state_replicas *rows, const char *dep, const char *svc, int n,
		      const char *hash)
{
	zl_grow(&rows->items, sizeof(*rows->items), &rows->cap, rows->count + (size_t)n);
	for (int i = 1; i <= n; i++) {
		struct state_replica *r = &rows->items[rows->count++];
		state_replica_init(r);
		r->deployment = zl_xstrdup(dep);
		r->service = zl_xstrdup(svc);
		r->index = i;
		r->state = RUN;
		r->spec_hash = zl_xstrdup(hash);
		r->spec_sections = zl_xstrdup(SEC_A);
	}
}

static void test_plan_many_replicas(void **state)
{
	(void)state;
	struct spec_service web = { .name = "web" };
	struct plan_desired_service ds = { .svc = &web, .replicas = 3000,
					   .sections = zl_xstrdup(SEC_A) };
	snprintf(ds.spec_hash, sizeof(ds.spec_hash), "h1");
	struct plan_desired d = { .deployment = "demo", .services = &ds, .count = 1 };
	struct state_replicas rows = { 0 };
	many_rows(&rows, "alpha", "web", 500, "x");
	many_rows(&rows, "demo", "web", 3000, "h1");
	many_rows(&rows, "omega", "web", 500, "x");

	struct plan p;
	plan_compute(&d, &rows, 0, &p);
	assert_int_equal(p.count, 0); /* converged */
	plan_free(&p);

	ds.replicas = 1;
	plan_compute(&d, &rows, 0, &p);
	assert_int_equal(p.count, 2999);
	for (size_t i = 0; i < p.count; i++) {
		assert_int_equal(p.items[i].kind, PLAN_REMOVE);
		assert_int_equal(p.items[i].index, 3000 - (int)i);
		assert_string_equal(p.items[i].deployment, "demo");
	}
	plan_free(&p);
	free(ds.sections);
	state_replicas_free(&rows);
}

/* The actions carry what execute needs: kind, index, reason, desired service. */
static void test_plan_kind_and_index(void **state)
{
	(void)state;
	struct spec_service web = { .name = "web", .restart_kind = SPEC_RESTART_ALWAYS };
	struct plan_desired_service ds = { .svc = &web, .replicas = 2,
					   .sections = zl_xstrdup(SEC_ENV) };
	snprintf(ds.spec_hash, sizeof(ds.spec_hash), "h2");
	struct plan_desired d = { .deployment = "demo", .services = &ds, .count = 1 };
	struct state_replicas rows = { 0 };
	many_rows(&rows, "demo", "web", 3, "h1");
	struct plan p;
	plan_compute(&d, &rows, 0, &p);
	assert_int_equal(p.count, 3);
	assert_int_equal(p.items[0].kind, PLAN_REMOVE);
	assert_int_equal(p.items[0].index, 3);
	assert_int_equal(p.items[1].kind, PLAN_RECREATE);
	assert_int_equal(p.items[1].index, 1);
	assert_string_equal(p.items[1].reason, "env changed");
	assert_ptr_equal(p.items[1].desired, &ds);
	assert_int_equal(p.items[2].kind, PLAN_RECREATE);
	assert_int_equal(p.items[2].index, 2);
	assert_ptr_equal(p.items[2].desired, &ds);
	plan_free(&p);
	free(ds.sections);
	state_replicas_free(&rows);
}

/* ---- plan_action_format ---- */

static void test_action_format(void **state)
{
	(void)state;
	static const struct {
		enum plan_action_kind kind;
		const char *service;
		int index;
		const char *reason;
		const char *expect;
	} rows[] = {
		{ PLAN_CREATE, "web", 3, NULL, "+ create web-rep-3" },
		{ PLAN_RECREATE, "api", 1, "env changed", "~ recreate api-rep-1 (env changed)" },
		{ PLAN_REMOVE, "old", 1, NULL, "- remove old-rep-1" },
		{ PLAN_REMOVE, "old", 12, "service removed from the spec",
		  "- remove old-rep-12 (service removed from the spec)" },
		{ PLAN_REMOVE, "web", 3, "scale to 2", "- remove web-rep-3 (scale to 2)" },
		{ PLAN_RESTART, "web", 2, "exited 1", "> restart web-rep-2 (exited 1)" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct plan_action a = {
			.kind = rows[i].kind,
			.deployment = "demo",
			.service = (char *)rows[i].service,
			.index = rows[i].index,
			.reason = (char *)rows[i].reason,
		};
		char *line = format_action(&a);
		assert_string_equal(line, rows[i].expect);
		free(line);
	}
	assert_string_equal(plan_action_name(PLAN_CREATE), "create");
	assert_string_equal(plan_action_name(PLAN_RECREATE), "recreate");
	assert_string_equal(plan_action_name(PLAN_RESTART), "restart");
	assert_string_equal(plan_action_name(PLAN_REMOVE), "remove");
}

/* ---- plan_waves ---- */

/* Actions "KIND SERVICE INDEX" (+ create, ~ recreate, - remove), cut into
 * waves: "a-1 a-2 | b-1" */
static char *waves_of(const char *const *spec, size_t n, struct plan_desired_service *ds,
		      size_t n_ds)
{
	struct plan p = { .items = zl_xcalloc(n, sizeof(*p.items)), .count = n, .cap = n };
	for (size_t i = 0; i < n; i++) {
		char kind, svc[16];
		int idx;
		assert_int_equal(sscanf(spec[i], "%c %15s %d", &kind, svc, &idx), 3);
		struct plan_action *a = &p.items[i];
		a->kind = kind == '+' ? PLAN_CREATE : kind == '~' ? PLAN_RECREATE : PLAN_REMOVE;
		a->service = zl_xstrdup(svc);
		a->index = idx;
		for (size_t k = 0; k < n_ds; k++)
			if (strcmp(ds[k].svc->name, svc) == 0)
				a->desired = &ds[k];
	}
	size_t *ends = NULL;
	size_t waves = plan_waves(&p, &ends);
	struct zl_buf out = { 0 };
	for (size_t w = 0, i = 0; w < waves; w++) {
		if (w > 0)
			zl_buf_puts(&out, " |");
		for (; i < ends[w]; i++)
			zl_buf_printf(&out, " %s-%d", p.items[i].service, p.items[i].index);
	}
	free(ends);
	for (size_t i = 0; i < n; i++)
		free(p.items[i].service);
	free(p.items);
	return zl_buf_steal(&out);
}

static void test_plan_waves(void **state)
{
	(void)state;
	struct spec_depend on_db = { .service = "db" };
	struct spec_service db = { .name = "db" };
	struct spec_service web = { .name = "web", .depends = &on_db, .depend_count = 1,
				    .rollout = { .max_unavailable = 3 } };
	struct spec_service cache = { .name = "cache" }; /* 25% of 4: 1 at a time */
	struct spec_service big = { .name = "big", .rollout = { .max_unavailable_percent = 50 } };
	struct plan_desired_service ds[] = {
		{ .svc = &db, .replicas = 2 }, { .svc = &web, .replicas = 8 },
		{ .svc = &cache, .replicas = 4 }, { .svc = &big, .replicas = 5 },
	};
	const char *const plan[] = {
		"- old 2", "- old 1", /* a service gone from the spec goes first, alone */
		"+ db 1", "+ db 2",
		"~ web 1", "~ web 2", "~ web 3", "~ web 4", "~ web 5", "~ web 6", "~ web 7", "+ web 8",
		"~ cache 1", "~ cache 2", "- cache 5",
		"~ big 1", "~ big 2", "~ big 3", "~ big 4", "~ big 5",
	};
	char *got = waves_of(plan, sizeof(plan) / sizeof(plan[0]), ds, 4);
	assert_string_equal(got, " old-2 old-1 | db-1 db-2 | web-1 web-2 web-3 | web-4 web-5 web-6 |"
				 " web-7 web-8 cache-1 | cache-2 cache-5 big-1 big-2 | big-3 big-4 |"
				 " big-5");
	free(got);
	/* removes and creates of one service, and of services without
	 * depends: one wave */
	const char *const flat[] = { "- db 3", "+ cache 1", "+ cache 2", "+ big 1" };
	got = waves_of(flat, 4, ds, 4);
	assert_string_equal(got, " db-3 cache-1 cache-2 big-1");
	free(got);
	size_t *ends = NULL;
	struct plan empty = { 0 };
	assert_int_equal(plan_waves(&empty, &ends), 0);
	free(ends);
	/* the batch a rollout.max_unavailable gives */
	assert_int_equal(spec_rollout_batch(&web, 8), 3);
	assert_int_equal(spec_rollout_batch(&cache, 4), 1);
	assert_int_equal(spec_rollout_batch(&cache, 3), 1);
	assert_int_equal(spec_rollout_batch(&cache, 50), 12);
	assert_int_equal(spec_rollout_batch(&big, 5), 2);
	assert_int_equal(spec_rollout_batch(&big, 1), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_table),
		cmocka_unit_test(test_plan_jobs_and_cron),
		cmocka_unit_test(test_plan_cron_run_carries_its_times),
		cmocka_unit_test(test_backoff_delays),
		cmocka_unit_test(test_note_exits),
		cmocka_unit_test(test_cron_latest_due),
		cmocka_unit_test(test_plan_many_replicas),
		cmocka_unit_test(test_plan_kind_and_index),
		cmocka_unit_test(test_action_format),
		cmocka_unit_test(test_plan_waves),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
