/* capability.c: the Linux capability names a spec may use (capabilities,
 * cap_drop), by number as in linux/capability.h. One table for validate and
 * for the backends that turn them into a runtime's config. */
#include "spec/spec.h"

#include <strings.h>

static const char *const cap_names[SPEC_CAP_COUNT] = {
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
	"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
	"NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
	"SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
	"AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};

int spec_capability_index(const char *name)
{
	if (!strncasecmp(name, "CAP_", 4))
		name += 4;
	if (!strcasecmp(name, "ALL"))
		return SPEC_CAP_ALL;
	for (int i = 0; i < SPEC_CAP_COUNT; i++)
		if (!strcasecmp(name, cap_names[i]))
			return i;
	return -1;
}

const char *spec_capability_name(int index)
{
	return index >= 0 && index < SPEC_CAP_COUNT ? cap_names[index] : NULL;
}
