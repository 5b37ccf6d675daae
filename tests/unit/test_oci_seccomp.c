/* test_oci_seccomp.c: the seccomp filter (backends/oci/seccomp.c). Docker's
 * default profile as the runtime spec's linux.seccomp for a container's
 * capabilities, this machine's architecture and kernel: the always-allowed
 * calls, what each capability unlocks, the clone and socket and
 * personality argument filters, clone3's ENOSYS, the architectures; then
 * profiles in Docker's JSON format translated (names, args with exact
 * 64-bit values, includes/excludes, archMap) and refused with the file and
 * the field named; and docs/containers.md's list of groups, which must be
 * what the table says (ZL_UPDATE_DOCS=1 rewrites it from the table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "backends/oci/bundle-internal.h"

static char tmp[64];

static int setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "/tmp/test_oci_seccomp.XXXXXX");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
	struct zl_err err = ZL_ERR_INIT;
	return zl_rm_rf(tmp, &err);
}

/* ---- helpers ---- */

#define CAPBIT(c) (UINT64_C(1) << oci_cap_from_name(c))

/* Docker's default capability set. */
static uint64_t default_caps(void)
{
	static const char *const names[] = {
		"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
		"SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
	};
	uint64_t caps = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		caps |= CAPBIT(names[i]);
	return caps;
}

static const struct oci_seccomp_host amd64 = { "amd64", { 6, 8 } };

/* sc as the runtime reads it: printed and parsed again (integers are raw
 * JSON text until then). */
static cJSON *reparsed(cJSON *sc)
{
	char *text = cJSON_Print(sc);
	cJSON *again = cJSON_Parse(text);
	if (!again)
		fail_msg("linux.seccomp does not parse:\n%s", text);
	free(text);
	cJSON_Delete(sc);
	return again;
}

static cJSON *default_for(uint64_t caps, const struct oci_seccomp_host *h)
{
	return reparsed(oci_seccomp_json(&oci_seccomp_default, caps, h));
}

static bool has_name(const cJSON *rule, const char *name)
{
	const cJSON *n;
	cJSON_ArrayForEach(n, cJSON_GetObjectItem(rule, "names"))
		if (!strcmp(n->valuestring, name))
			return true;
	return false;
}

/* The rules of sc that name name, as one text: "ACTION[/errno][ args]" per
 * rule, joined by " | ", args as "i OP value[ value2]". "" when none. */
static char *rules_of(const cJSON *sc, const char *name)
{
	struct zl_buf b = { 0 };
	const cJSON *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItem(sc, "syscalls")) {
		if (!has_name(r, name))
			continue;
		zl_buf_printf(&b, "%s%s", b.len ? " | " : "", cJSON_GetObjectItem(r, "action")->valuestring);
		const cJSON *e = cJSON_GetObjectItem(r, "errnoRet");
		if (e)
			zl_buf_printf(&b, "/%d", e->valueint);
		const cJSON *a;
		cJSON_ArrayForEach(a, cJSON_GetObjectItem(r, "args")) {
			zl_buf_printf(&b, " %d %s %.0f", cJSON_GetObjectItem(a, "index")->valueint,
				      cJSON_GetObjectItem(a, "op")->valuestring + strlen("SCMP_CMP_"),
				      cJSON_GetObjectItem(a, "value")->valuedouble);
			const cJSON *two = cJSON_GetObjectItem(a, "valueTwo");
			if (two)
				zl_buf_printf(&b, " %.0f", two->valuedouble);
		}
	}
	return zl_buf_steal(&b);
}

static void expect_rules(const cJSON *sc, const char *name, const char *want)
{
	char *got = rules_of(sc, name);
	if (strcmp(got, want))
		fail_msg("%s: got \"%s\", want \"%s\"", name, got, want);
	free(got);
}

static char *joined(const cJSON *arr)
{
	struct zl_buf b = { 0 };
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) zl_buf_printf(&b, "%s%s", b.len ? "|" : "", it->valuestring);
	return zl_buf_steal(&b);
}

static void expect_arches(const cJSON *sc, const char *want)
{
	char *got = joined(cJSON_GetObjectItem(sc, "architectures"));
	if (strcmp(got, want))
		fail_msg("architectures: got \"%s\", want \"%s\"", got, want);
	free(got);
}

/* Blocked for a container with Docker's default capabilities (a few,
 * named in docs/containers.md too). */
static const char *const blocked_examples[] = {
	"mount", "umount2", "unshare", "setns", "pivot_root", "keyctl", "add_key", "request_key",
	"kexec_load", "init_module", "reboot", "swapon", "bpf", "perf_event_open", "io_uring_setup",
	"userfaultfd", "open_by_handle_at", "settimeofday", "clock_settime", "acct", "syslog",
	"kcmp", "process_madvise", "pidfd_getfd", "mbind", "move_pages", "vm86", "uselib",
	"lookup_dcookie", "quotactl", "fanotify_init", "sethostname",
};

/* ---- Docker's default profile ---- */

static void test_default_profile(void **state)
{
	cJSON *sc = default_for(default_caps(), &amd64);
	assert_string_equal(cJSON_GetObjectItem(sc, "defaultAction")->valuestring, "SCMP_ACT_ERRNO");
	assert_int_equal(cJSON_GetObjectItem(sc, "defaultErrnoRet")->valueint, EPERM);
	expect_arches(sc, "SCMP_ARCH_X86_64|SCMP_ARCH_X86|SCMP_ARCH_X32");
	/* What every program needs, allowed without conditions. */
	static const char *const always[] = {
		"read", "write", "openat", "close", "exit_group", "execve", "futex", "mmap",
		"rt_sigreturn", "clock_gettime", "epoll_wait", "accept4", "statx", "chown",
		"setuid", "fchmodat2", "getrandom", "arch_prctl", "modify_ldt", "chroot",
		"process_vm_readv", "ptrace", /* kernel 4.8 and later */
	};
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		expect_rules(sc, always[i], "SCMP_ACT_ALLOW");
	for (size_t i = 0; i < sizeof(blocked_examples) / sizeof(blocked_examples[0]); i++)
		expect_rules(sc, blocked_examples[i], "");
	/* The argument filters. */
	expect_rules(sc, "clone", "SCMP_ACT_ALLOW 0 MASKED_EQ 2114060288");
	expect_rules(sc, "clone3", "SCMP_ACT_ERRNO/38");
	expect_rules(sc, "socket", "SCMP_ACT_ALLOW 0 LT 38 | SCMP_ACT_ALLOW 0 EQ 39 | SCMP_ACT_ALLOW 0 GT 40");
	expect_rules(sc, "personality",
		     "SCMP_ACT_ALLOW 0 EQ 0 | SCMP_ACT_ALLOW 0 EQ 8 | SCMP_ACT_ALLOW 0 EQ 131072 | "
		     "SCMP_ACT_ALLOW 0 EQ 131080 | SCMP_ACT_ALLOW 0 EQ 4294967295");
	/* Other architectures' calls are left out. */
	expect_rules(sc, "set_tls", "");
	expect_rules(sc, "s390_runtime_instr", "");
	cJSON_Delete(sc);

	/* Not even the default capabilities: chroot goes too. */
	sc = default_for(0, &amd64);
	expect_rules(sc, "chroot", "");
	expect_rules(sc, "read", "SCMP_ACT_ALLOW");
	cJSON_Delete(sc);
}

/* A capability given with cap_add unlocks its group, as in Docker. */
static void test_capabilities_unlock_groups(void **state)
{
	const struct { /* not static: the lists are compound literals */
		const char *cap;
		const char *const *calls;
	} cases[] = {
		{ "SYS_ADMIN", (const char *const[]){ "mount", "umount2", "unshare", "setns", "sethostname",
						      "fsopen", "move_mount", "quotactl", "lsm_list_modules", NULL } },
		{ "SYS_PTRACE", (const char *const[]){ "kcmp", "pidfd_getfd", "process_madvise", NULL } },
		{ "SYS_BOOT", (const char *const[]){ "reboot", NULL } },
		{ "SYS_MODULE", (const char *const[]){ "init_module", "finit_module", "delete_module", NULL } },
		{ "SYS_TIME", (const char *const[]){ "settimeofday", "clock_settime", "stime", NULL } },
		{ "SYS_NICE", (const char *const[]){ "mbind", "set_mempolicy", "get_mempolicy", NULL } },
		{ "SYSLOG", (const char *const[]){ "syslog", NULL } },
		{ "SYS_PACCT", (const char *const[]){ "acct", NULL } },
		{ "SYS_RAWIO", (const char *const[]){ "iopl", "ioperm", NULL } },
		{ "SYS_TTY_CONFIG", (const char *const[]){ "vhangup", NULL } },
		{ "DAC_READ_SEARCH", (const char *const[]){ "open_by_handle_at", NULL } },
		{ "BPF", (const char *const[]){ "bpf", NULL } },
		{ "PERFMON", (const char *const[]){ "perf_event_open", NULL } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *without = default_for(default_caps(), &amd64);
		cJSON *with = default_for(default_caps() | CAPBIT(cases[i].cap), &amd64);
		for (size_t j = 0; cases[i].calls[j]; j++) {
			char *a = rules_of(without, cases[i].calls[j]), *b = rules_of(with, cases[i].calls[j]);
			if (*a || strcmp(b, "SCMP_ACT_ALLOW"))
				fail_msg("CAP_%s: %s is \"%s\" without it and \"%s\" with it", cases[i].cap,
					 cases[i].calls[j], a, b);
			free(a);
			free(b);
		}
		cJSON_Delete(without);
		cJSON_Delete(with);
	}
	/* CAP_SYS_ADMIN: clone and clone3 without the filter and the ENOSYS. */
	cJSON *sc = default_for(default_caps() | CAPBIT("SYS_ADMIN"), &amd64);
	expect_rules(sc, "clone", "SCMP_ACT_ALLOW");
	expect_rules(sc, "clone3", "SCMP_ACT_ALLOW");
	cJSON_Delete(sc);
	/* Every capability (privileged with seccomp=builtin). */
	sc = default_for(UINT64_MAX, &amd64);
	expect_rules(sc, "syslog", "SCMP_ACT_ALLOW | SCMP_ACT_ALLOW");
	expect_rules(sc, "keyctl", ""); /* nothing unlocks it */
	cJSON_Delete(sc);
}

static void test_architectures_and_kernels(void **state)
{
	cJSON *sc = default_for(default_caps(), &(struct oci_seccomp_host){ "arm64", { 6, 1 } });
	expect_arches(sc, "SCMP_ARCH_AARCH64|SCMP_ARCH_ARM");
	expect_rules(sc, "set_tls", "SCMP_ACT_ALLOW");
	expect_rules(sc, "sync_file_range2", "SCMP_ACT_ALLOW");
	expect_rules(sc, "arch_prctl", "");
	expect_rules(sc, "modify_ldt", "");
	cJSON_Delete(sc);

	sc = default_for(default_caps(), &(struct oci_seccomp_host){ "s390x", { 6, 1 } });
	expect_arches(sc, "SCMP_ARCH_S390X|SCMP_ARCH_S390");
	expect_rules(sc, "clone", "SCMP_ACT_ALLOW 1 MASKED_EQ 2114060288");
	expect_rules(sc, "s390_pci_mmio_read", "SCMP_ACT_ALLOW");
	cJSON_Delete(sc);

	sc = default_for(default_caps(), &(struct oci_seccomp_host){ "riscv64", { 6, 1 } });
	expect_arches(sc, "SCMP_ARCH_RISCV64");
	expect_rules(sc, "riscv_flush_icache", "SCMP_ACT_ALLOW");
	cJSON_Delete(sc);

	/* An architecture without an archMap entry: the runtime's native one. */
	sc = default_for(default_caps(), &(struct oci_seccomp_host){ "ppc64le", { 6, 1 } });
	assert_null(cJSON_GetObjectItem(sc, "architectures"));
	expect_rules(sc, "swapcontext", "SCMP_ACT_ALLOW");
	cJSON_Delete(sc);

	/* Before 4.8, seccomp ran before ptrace could change a call: no ptrace. */
	sc = default_for(default_caps(), &(struct oci_seccomp_host){ "amd64", { 4, 4 } });
	expect_rules(sc, "ptrace", "");
	cJSON_Delete(sc);
	sc = default_for(default_caps(), &(struct oci_seccomp_host){ "amd64", { 4, 8 } });
	expect_rules(sc, "ptrace", "SCMP_ACT_ALLOW");
	cJSON_Delete(sc);

	/* This machine. */
	struct oci_seccomp_host here;
	oci_seccomp_this_host(&here);
	assert_true(here.kernel[0] >= 3);
#if defined(__x86_64__)
	assert_string_equal(here.arch, "amd64");
#endif
}

/* Every syscall name appears once in a group, in the order the groups
 * keep (sorted, leading underscores ignored), so the table stays readable. */
static void test_table_is_tidy(void **state)
{
	const struct oci_seccomp_profile *p = &oci_seccomp_default;
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct oci_seccomp_rule *r = &p->rules[i];
		assert_non_null(r->title);
		for (size_t j = 0; r->names[j]; j++) {
			if (strspn(r->names[j], "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(r->names[j]))
				fail_msg("group \"%s\": \"%s\" is not a syscall name", r->title, r->names[j]);
			if (j && strcmp(r->names[j - 1] + strspn(r->names[j - 1], "_"),
					r->names[j] + strspn(r->names[j], "_")) >= 0)
				fail_msg("group \"%s\": \"%s\" comes after \"%s\"", r->title, r->names[j],
					 r->names[j - 1]);
			/* Unconditional groups do not repeat a name. */
			if (r->n_args || r->caps_all || r->caps_none || r->arches || r->not_arches ||
			    r->min_kernel[0])
				continue;
			for (size_t k = 0; k < i; k++) {
				const struct oci_seccomp_rule *o = &p->rules[k];
				for (size_t m = 0; o->names[m]; m++)
					if (!strcmp(o->names[m], r->names[j]))
						fail_msg("\"%s\" is in \"%s\" and \"%s\"", r->names[j], o->title, r->title);
			}
		}
	}
}

/* ---- docs/containers.md ---- */

static const char *source_root(void)
{
	const char *e = getenv("ZLAPPLY_SOURCE_ROOT");
	return e && *e ? e : ZL_TEST_SOURCE_ROOT;
}

#define DOC_BEGIN "<!-- seccomp groups: begin (generated from backends/oci/seccomp.c; tests/unit/test_oci_seccomp.c checks it, ZL_UPDATE_DOCS=1 rewrites it) -->\n"
#define DOC_END "<!-- seccomp groups: end -->\n"

static void cap_list(struct zl_buf *b, const char *word, uint64_t caps)
{
	cJSON *names = oci_caps_json(caps);
	const cJSON *n;
	bool first = true;
	cJSON_ArrayForEach(n, names) {
		zl_buf_printf(b, "%s%s %s", b->len ? "; " : "", first ? word : "or", n->valuestring);
		first = false;
	}
	cJSON_Delete(names);
}

static void arch_list(struct zl_buf *b, const char *word, uint32_t bits)
{
	if (!bits)
		return;
	zl_buf_printf(b, "%s%s ", b->len ? "; " : "", word);
	bool first = true;
	for (unsigned i = 0; oci_seccomp_arch_name(i); i++) {
		if (bits & (UINT32_C(1) << i)) {
			zl_buf_printf(b, "%s%s", first ? "" : ", ", oci_seccomp_arch_name(i));
			first = false;
		}
	}
}

/* A rule's conditions in words. */
static char *conditions(const struct oci_seccomp_rule *r)
{
	static const struct {
		const char *op, *sym;
	} ops[] = {
		{ "SCMP_CMP_EQ", "==" }, { "SCMP_CMP_NE", "!=" }, { "SCMP_CMP_LT", "<" },
		{ "SCMP_CMP_LE", "<=" }, { "SCMP_CMP_GT", ">" },  { "SCMP_CMP_GE", ">=" },
	};
	struct zl_buf b = { 0 };
	cap_list(&b, "with", r->caps_all);
	cap_list(&b, "without", r->caps_none);
	arch_list(&b, "on", r->arches);
	arch_list(&b, "not on", r->not_arches);
	if (r->min_kernel[0])
		zl_buf_printf(&b, "%skernel %u.%u or later", b.len ? "; " : "", r->min_kernel[0],
			      r->min_kernel[1]);
	for (size_t i = 0; i < r->n_args; i++) {
		const struct oci_seccomp_arg *a = &r->args[i];
		char value[32];
		snprintf(value, sizeof(value), a->value < 64 ? "%" PRIu64 : "0x%" PRIx64, a->value);
		zl_buf_printf(&b, "%sargument %u ", b.len ? "; " : "", a->index);
		if (!strcmp(a->op, "SCMP_CMP_MASKED_EQ")) {
			zl_buf_printf(&b, "& %s == %" PRIu64, value, a->value_two);
			continue;
		}
		for (size_t j = 0; j < sizeof(ops) / sizeof(ops[0]); j++)
			if (!strcmp(a->op, ops[j].op))
				zl_buf_printf(&b, "%s %s", ops[j].sym, value);
	}
	if (strcmp(r->action, "SCMP_ACT_ALLOW"))
		zl_buf_printf(&b, "%s**fails with errno %" PRIu64 "**", b.len ? "; " : "", r->errno_ret);
	if (!b.len)
		zl_buf_puts(&b, "always");
	return zl_buf_steal(&b);
}

/* The section of docs/containers.md between DOC_BEGIN and DOC_END. */
static char *doc_section(void)
{
	const struct oci_seccomp_profile *p = &oci_seccomp_default;
	struct zl_buf b = { 0 };
	zl_buf_printf(&b, "Anything not allowed below fails with errno %" PRIu64 " (EPERM). "
			  "Architectures, the machine's and those it also runs:",
		      p->default_errno);
	for (size_t i = 0; i < p->n_archmap; i++) {
		zl_buf_printf(&b, "%s `%s`", i ? ";" : "", p->archmap[i].arch);
		for (size_t j = 0; p->archmap[i].sub && p->archmap[i].sub[j]; j++)
			zl_buf_printf(&b, "%s`%s`", j ? ", " : " with ", p->archmap[i].sub[j]);
	}
	zl_buf_puts(&b, ".\n\n");
	zl_buf_puts(&b, "| group | when | system calls |\n|---|---|---|\n");
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct oci_seccomp_rule *r = &p->rules[i];
		char *when = conditions(r);
		zl_buf_printf(&b, "| %s | %s | ", r->title, when);
		for (size_t j = 0; r->names[j]; j++)
			zl_buf_printf(&b, "%s`%s`", j ? ", " : "", r->names[j]);
		zl_buf_puts(&b, " |\n");
		free(when);
	}
	zl_buf_puts(&b, "\nBlocked with Docker's default capabilities (a few of them): ");
	for (size_t i = 0; i < sizeof(blocked_examples) / sizeof(blocked_examples[0]); i++)
		zl_buf_printf(&b, "%s`%s`", i ? ", " : "", blocked_examples[i]);
	zl_buf_puts(&b, ".\n");
	return zl_buf_steal(&b);
}

static void test_docs_list_the_table(void **state)
{
	char *path = zl_xasprintf("%s/docs/containers.md", source_root());
	char *text = NULL;
	size_t len = 0;
	struct zl_err err = ZL_ERR_INIT;
	if (zl_read_file(path, &text, &len, &err) < 0)
		fail_msg("%s", err.msg);
	char *begin = strstr(text, DOC_BEGIN), *end = begin ? strstr(begin, DOC_END) : NULL;
	if (!begin || !end)
		fail_msg("%s lacks the lines\n%s...\n%s", path, DOC_BEGIN, DOC_END);
	begin += strlen(DOC_BEGIN);
	char *want = doc_section();
	bool same = (size_t)(end - begin) == strlen(want) && !memcmp(begin, want, strlen(want));
	if (!same && getenv("ZL_UPDATE_DOCS")) {
		struct zl_buf b = { 0 };
		zl_buf_append(&b, text, (size_t)(begin - text));
		zl_buf_puts(&b, want);
		zl_buf_puts(&b, end);
		if (zl_write_file_atomic(path, b.data, b.len, 0644, &err) < 0)
			fail_msg("%s", err.msg);
		zl_buf_free(&b);
		print_message("rewrote the seccomp groups in %s\n", path);
	} else if (!same) {
		fail_msg("the seccomp groups in %s differ from backends/oci/seccomp.c; run this test "
			 "with ZL_UPDATE_DOCS=1 to rewrite them. They should read:\n%s",
			 path, want);
	}
	free(want);
	free(text);
	free(path);
}

/* ---- profiles in Docker's JSON format ---- */

static char *write_profile(const char *name, const char *text)
{
	char *path = zl_xasprintf("%s/%s", tmp, name);
	struct zl_err err = ZL_ERR_INIT;
	if (zl_write_file_atomic(path, text, strlen(text), 0644, &err) < 0)
		fail_msg("%s", err.msg);
	return path;
}

/* The profile text as linux.seccomp, unparsed: the text the runtime gets. */
static cJSON *translate_raw(const char *text, uint64_t caps, const struct oci_seccomp_host *h)
{
	char *path = write_profile("p.json", text);
	struct oci_seccomp_profile *p = NULL;
	struct zl_err err = ZL_ERR_INIT;
	if (oci_seccomp_load(path, &p, &err) < 0)
		fail_msg("%s", err.msg);
	cJSON *sc = oci_seccomp_json(p, caps, h);
	oci_seccomp_profile_free(p);
	free(path);
	return sc;
}

static cJSON *translate(const char *text, uint64_t caps, const struct oci_seccomp_host *h)
{
	return reparsed(translate_raw(text, caps, h));
}

static void test_profile_translated(void **state)
{
	static const char *const profile =
		"{\n"
		"  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n"
		"  \"archMap\": [\n"
		"    {\"architecture\": \"SCMP_ARCH_X86_64\", \"subArchitectures\": [\"SCMP_ARCH_X86\"]},\n"
		"    {\"architecture\": \"SCMP_ARCH_AARCH64\", \"subArchitectures\": null}\n"
		"  ],\n"
		"  \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\"],\n"
		"  \"syscalls\": [\n"
		"    {\"names\": [\"mkdir\", \"mkdirat\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 13,\n"
		"     \"comment\": \"no new directories\"},\n"
		"    {\"name\": \"chmod\", \"action\": \"SCMP_ACT_KILL_PROCESS\"},\n"
		"    {\"names\": [\"ioctl\"], \"action\": \"SCMP_ACT_ERRNO\",\n"
		"     \"args\": [{\"index\": 1, \"value\": 18446744073709551615, \"valueTwo\": 21505, \"op\": \"SCMP_CMP_MASKED_EQ\"}]},\n"
		"    {\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ERRNO\", \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
		"    {\"names\": [\"ptrace\"], \"action\": \"SCMP_ACT_LOG\", \"includes\": {\"caps\": [\"CAP_SYS_PTRACE\", \"CAP_SYS_ADMIN\"]}},\n"
		"    {\"names\": [\"set_tls\"], \"action\": \"SCMP_ACT_ERRNO\", \"includes\": {\"arches\": [\"arm64\"]}},\n"
		"    {\"names\": [\"arch_prctl\"], \"action\": \"SCMP_ACT_ERRNO\", \"excludes\": {\"arches\": [\"amd64\"]}},\n"
		"    {\"names\": [\"landlock_create_ruleset\"], \"action\": \"SCMP_ACT_ERRNO\", \"includes\": {\"minKernel\": \"5.13\"}},\n"
		"    {\"names\": [\"uselib\"], \"action\": \"SCMP_ACT_TRAP\", \"excludes\": {\"minKernel\": \"5.13\"}, \"args\": null}\n"
		"  ]\n"
		"}\n";
	/* 64-bit values are exact in the config the runtime reads. */
	cJSON *sc = translate_raw(profile, default_caps(), &amd64);
	char *text = cJSON_PrintUnformatted(sc);
	if (!strstr(text, "{\"index\":1,\"value\":18446744073709551615,\"valueTwo\":21505,\"op\":\"SCMP_CMP_MASKED_EQ\"}"))
		fail_msg("the ioctl argument is not exact: %s", text);
	free(text);
	cJSON_Delete(sc);

	sc = translate(profile, default_caps(), &amd64);
	assert_string_equal(cJSON_GetObjectItem(sc, "defaultAction")->valuestring, "SCMP_ACT_ALLOW");
	assert_null(cJSON_GetObjectItem(sc, "defaultErrnoRet"));
	expect_arches(sc, "SCMP_ARCH_X86_64|SCMP_ARCH_X86");
	char *flags = joined(cJSON_GetObjectItem(sc, "flags"));
	assert_string_equal(flags, "SECCOMP_FILTER_FLAG_LOG");
	free(flags);
	expect_rules(sc, "mkdirat", "SCMP_ACT_ERRNO/13");
	expect_rules(sc, "chmod", "SCMP_ACT_KILL_PROCESS");
	expect_rules(sc, "mount", "SCMP_ACT_ERRNO");
	expect_rules(sc, "ptrace", "");
	expect_rules(sc, "set_tls", "");
	expect_rules(sc, "arch_prctl", "");
	expect_rules(sc, "landlock_create_ruleset", "SCMP_ACT_ERRNO"); /* kernel 6.8 */
	expect_rules(sc, "uselib", "");
	cJSON_Delete(sc);

	/* The same profile for another container and another machine. */
	sc = translate(profile, default_caps() | CAPBIT("SYS_ADMIN") | CAPBIT("SYS_PTRACE"),
		       &(struct oci_seccomp_host){ "arm64", { 5, 4 } });
	expect_arches(sc, "SCMP_ARCH_AARCH64");
	expect_rules(sc, "mount", "");
	expect_rules(sc, "ptrace", "SCMP_ACT_LOG");
	expect_rules(sc, "set_tls", "SCMP_ACT_ERRNO");
	expect_rules(sc, "arch_prctl", "SCMP_ACT_ERRNO");
	expect_rules(sc, "landlock_create_ruleset", "");
	expect_rules(sc, "uselib", "SCMP_ACT_TRAP");
	cJSON_Delete(sc);

	/* A plain architectures list, defaultErrnoRet, a profile without rules. */
	sc = translate("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 38, "
		       "\"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_X32\"], \"syscalls\": null}",
		       0, &amd64);
	assert_int_equal(cJSON_GetObjectItem(sc, "defaultErrnoRet")->valueint, 38);
	expect_arches(sc, "SCMP_ARCH_X86_64|SCMP_ARCH_X32");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(sc, "syscalls")), 0);
	cJSON_Delete(sc);
}

static void test_profile_errors(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n    {\"names\": [\"read\"],}\n  ]\n}",
		  "p.json:4:" /* column: where cJSON stopped */ },
		{ "[]", "p.json: expected a JSON object" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\"}\n{}\n", "p.json:2:1: more after the JSON object" },
		{ "{}", "p.json: defaultAction: missing" },
		{ "{\"defaultAction\": \"SCMP_ACT_DENY\"}",
		  "p.json: defaultAction: unknown action \"SCMP_ACT_DENY\" (expected SCMP_ACT_ALLOW, SCMP_ACT_ERRNO" },
		{ "{\"defaultAction\": 1}", "p.json: defaultAction: expected a non-empty string" },
		{ "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"defaultErrnoRet\": 1}",
		  "p.json: defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return an error number, not SCMP_ACT_ALLOW" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 5000}",
		  "p.json: defaultErrnoRet: 5000 is above 4095" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": -1}",
		  "p.json: defaultErrnoRet: expected an integer from 0 to 4095" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscall\": []}",
		  "p.json: syscall: unknown field (expected defaultAction, defaultErrnoRet, architectures, archMap, flags, syscalls)" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultAction\": \"SCMP_ACT_ALLOW\"}",
		  "p.json: defaultAction: given twice" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"listenerPath\": \"/run/agent.sock\"}",
		  "p.json: listenerPath: not supported: zlapply runs no seccomp agent" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"architectures\": [\"SCMP_ARCH_X86_64\"], "
		  "\"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\"}]}",
		  "p.json: archMap: give either architectures or archMap, not both" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"architectures\": [\"x86_64\"]}",
		  "p.json: architectures[0]: unknown architecture \"x86_64\" (expected SCMP_ARCH_X86_64" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\", \"subArchitectures\": [\"SCMP_ARCH_I386\"]}]}",
		  "p.json: archMap[0].subArchitectures[0]: unknown architecture \"SCMP_ARCH_I386\"" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"flags\": [\"SECCOMP_FILTER_FLAG_FAST\"]}",
		  "p.json: flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_FAST\"" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": {}}", "p.json: syscalls: expected a list of rules" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"]}]}",
		  "p.json: syscalls[0].action: missing" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_NOTIFY\"}]}",
		  "p.json: syscalls[0].action: SCMP_ACT_NOTIFY needs a seccomp agent" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [], \"action\": \"SCMP_ACT_ALLOW\"}]}",
		  "p.json: syscalls[0].names: missing: a rule names at least one system call" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": \"read\", \"action\": \"SCMP_ACT_ALLOW\"}]}",
		  "p.json: syscalls[0].names: expected a list of strings" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\", \"Write!\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
		  "p.json: syscalls[0].names[1]: \"Write!\" is not a system call name" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"name\": \"read\", \"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
		  "p.json: syscalls[0].name: give either names or the older name, not both" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"errnoRet\": 1}]}",
		  "p.json: syscalls[0].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"priority\": 1}]}",
		  "p.json: syscalls[0].priority: unknown field (expected names, name, action, errnoRet, args, comment, includes, excludes)" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{}, {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
		  "\"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}, {\"index\": 1, \"value\": 2, \"op\": \"SCMP_CMP_EQUAL\"}]}]}",
		  "p.json: syscalls[0].names: missing" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
		  "\"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}, {\"index\": 1, \"value\": 2, \"op\": \"SCMP_CMP_EQUAL\"}]}]}",
		  "p.json: syscalls[0].args[1].op: unknown operator \"SCMP_CMP_EQUAL\" (expected SCMP_CMP_EQ, SCMP_CMP_NE" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
		  "\"args\": [{\"index\": 6, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
		  "p.json: syscalls[0].args[0].index: 6 is above 5" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
		  "\"args\": [{\"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
		  "p.json: syscalls[0].args[0].index: missing" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
		  "\"args\": [{\"index\": 0, \"value\": 1.5, \"op\": \"SCMP_CMP_EQ\"}]}]}",
		  "p.json: syscalls[0].args[0].value: expected an integer from 0 to 18446744073709551615" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
		  "\"args\": [{\"index\": 0, \"value\": 18446744073709551616, \"op\": \"SCMP_CMP_EQ\"}]}]}",
		  "p.json: syscalls[0].args[0].value: 18446744073709551616 is above 18446744073709551615" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
		  "\"args\": [{\"index\": 0, \"value\": \"1\", \"op\": \"SCMP_CMP_EQ\"}]}]}",
		  "p.json: syscalls[0].args[0].value: expected an integer" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
		  "\"args\": [1, 2, 3, 4, 5, 6, 7]}]}",
		  "p.json: syscalls[0].args: 7 conditions; a system call has 6 arguments" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALLOW\", "
		  "\"includes\": {\"caps\": [\"CAP_SYS_ADMN\"]}}]}",
		  "p.json: syscalls[0].includes.caps[0]: unknown capability \"CAP_SYS_ADMN\"" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALLOW\", "
		  "\"excludes\": {\"arches\": [\"x86_64\"]}}]}",
		  "p.json: syscalls[0].excludes.arches[0]: unknown architecture \"x86_64\" (expected Docker's names: amd64, x86" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALLOW\", "
		  "\"includes\": {\"minKernel\": \"4.8.1\"}}]}",
		  "p.json: syscalls[0].includes.minKernel: expected a kernel version \"MAJOR.MINOR\" such as \"4.8\"" },
		{ "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALLOW\", "
		  "\"includes\": {\"kernel\": \"4.8\"}}]}",
		  "p.json: syscalls[0].includes.kernel: unknown field (expected caps, arches, minKernel)" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = write_profile("p.json", cases[i].text);
		struct oci_seccomp_profile *p = NULL;
		struct zl_err err = ZL_ERR_INIT;
		if (oci_seccomp_load(path, &p, &err) == 0)
			fail_msg("case %zu accepted: %s", i, cases[i].text);
		assert_null(p);
		char *want = zl_xasprintf("seccomp profile %s/%s", tmp, cases[i].want);
		if (strncmp(err.msg, want, strlen(want)))
			fail_msg("case %zu: \"%s\" is not \"%s...\"", i, err.msg, want);
		assert_int_equal(err.kind, ZL_ERR_INPUT);
		free(want);
		free(path);
	}

	/* Files that cannot be profiles. */
	struct oci_seccomp_profile *p = NULL;
	struct zl_err err = ZL_ERR_INIT;
	char *missing = zl_xasprintf("%s/nope.json", tmp);
	assert_int_equal(oci_seccomp_load(missing, &p, &err), -1);
	char *want = zl_xasprintf("seccomp profile %s: No such file or directory", missing);
	assert_string_equal(err.msg, want);
	free(want);
	free(missing);
	assert_int_equal(oci_seccomp_load(tmp, &p, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
	char *fifo = zl_xasprintf("%s/fifo.json", tmp); /* refused, without waiting for a writer */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(oci_seccomp_load(fifo, &p, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
	free(fifo);
	char *big_text = zl_xmalloc(1024 * 1024 + 2);
	memset(big_text, ' ', 1024 * 1024 + 1);
	big_text[1024 * 1024 + 1] = '\0';
	char *big = write_profile("big.json", big_text);
	assert_int_equal(oci_seccomp_load(big, &p, &err), -1);
	assert_non_null(strstr(err.msg, "more than the 1048576 a profile may have"));
	free(big);
	free(big_text);
}

/* Docker's own default.json, as a user would copy it beside a spec, reads
 * as the built-in table does (the same rules for the same container). */
static void test_profile_like_the_builtin(void **state)
{
	/* The built-in profile written out in Docker's format, then read back. */
	const struct oci_seccomp_profile *d = &oci_seccomp_default;
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "defaultAction", d->default_action);
	cJSON_AddNumberToObject(doc, "defaultErrnoRet", (double)d->default_errno);
	cJSON *map = cJSON_AddArrayToObject(doc, "archMap");
	for (size_t i = 0; i < d->n_archmap; i++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "architecture", d->archmap[i].arch);
		cJSON *sub = cJSON_AddArrayToObject(e, "subArchitectures");
		for (size_t j = 0; d->archmap[i].sub && d->archmap[i].sub[j]; j++)
			cJSON_AddItemToArray(sub, cJSON_CreateString(d->archmap[i].sub[j]));
		cJSON_AddItemToArray(map, e);
	}
	cJSON *calls = cJSON_AddArrayToObject(doc, "syscalls");
	for (size_t i = 0; i < d->n_rules; i++) {
		const struct oci_seccomp_rule *r = &d->rules[i];
		cJSON *c = cJSON_CreateObject();
		cJSON *names = cJSON_AddArrayToObject(c, "names");
		for (size_t j = 0; r->names[j]; j++)
			cJSON_AddItemToArray(names, cJSON_CreateString(r->names[j]));
		cJSON_AddStringToObject(c, "action", r->action);
		cJSON_AddStringToObject(c, "comment", r->title);
		if (r->has_errno)
			cJSON_AddNumberToObject(c, "errnoRet", (double)r->errno_ret);
		cJSON *args = cJSON_AddArrayToObject(c, "args");
		for (size_t j = 0; j < r->n_args; j++) {
			cJSON *a = cJSON_CreateObject();
			cJSON_AddNumberToObject(a, "index", r->args[j].index);
			cJSON_AddNumberToObject(a, "value", (double)r->args[j].value);
			cJSON_AddStringToObject(a, "op", r->args[j].op);
			cJSON_AddItemToArray(args, a);
		}
		for (int side = 0; side < 2; side++) {
			uint64_t caps = side ? r->caps_none : r->caps_all;
			uint32_t arch_bits = side ? r->not_arches : r->arches;
			const unsigned *k = side ? r->below_kernel : r->min_kernel;
			if (!caps && !arch_bits && !k[0])
				continue;
			cJSON *f = cJSON_AddObjectToObject(c, side ? "excludes" : "includes");
			if (caps)
				cJSON_AddItemToObject(f, "caps", oci_caps_json(caps));
			if (arch_bits) {
				cJSON *arr = cJSON_AddArrayToObject(f, "arches");
				for (unsigned b = 0; oci_seccomp_arch_name(b); b++)
					if (arch_bits & (UINT32_C(1) << b))
						cJSON_AddItemToArray(arr, cJSON_CreateString(oci_seccomp_arch_name(b)));
			}
			if (k[0]) {
				char v[16];
				snprintf(v, sizeof(v), "%u.%u", k[0], k[1]);
				cJSON_AddStringToObject(f, "minKernel", v);
			}
		}
		cJSON_AddItemToArray(calls, c);
	}
	char *text = cJSON_Print(doc);
	cJSON_Delete(doc);
	const uint64_t cap_sets[] = { 0, default_caps(), default_caps() | CAPBIT("SYS_ADMIN"), UINT64_MAX };
	const struct oci_seccomp_host hosts[] = { { "amd64", { 6, 8 } }, { "arm64", { 4, 4 } },
						  { "s390x", { 5, 10 } } };
	for (size_t c = 0; c < sizeof(cap_sets) / sizeof(cap_sets[0]); c++) {
		for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++) {
			cJSON *a = translate(text, cap_sets[c], &hosts[h]);
			cJSON *b = default_for(cap_sets[c], &hosts[h]);
			char *ta = cJSON_PrintUnformatted(a), *tb = cJSON_PrintUnformatted(b);
			if (strcmp(ta, tb))
				fail_msg("caps %zu on %s:\nfrom the file: %s\nbuilt in:      %s", c, hosts[h].arch, ta, tb);
			free(ta);
			free(tb);
			cJSON_Delete(a);
			cJSON_Delete(b);
		}
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_profile),
		cmocka_unit_test(test_capabilities_unlock_groups),
		cmocka_unit_test(test_architectures_and_kernels),
		cmocka_unit_test(test_table_is_tidy),
		cmocka_unit_test(test_docs_list_the_table),
		cmocka_unit_test(test_profile_translated),
		cmocka_unit_test(test_profile_errors),
		cmocka_unit_test(test_profile_like_the_builtin),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
