/* vm-proto.h: what the host side of a VM replica (zlvm, the OCI runtime
 * that runs a bundle in a QEMU guest) and the guest's init (zlinit) say to
 * each other. Header-only (static inline): zlinit is a static binary that
 * links nothing of the project.
 *
 * ---- The guest ----
 * QEMU boots the Debian kernel with zlapply's initramfs (zlinit as /init and
 * the modules it loads; scripts/build-vm-guest makes both). Pass its vmlinux
 * (uncompressed, booted through the PVH entry) to -kernel when it exists:
 * under TCG the bzImage vmlinuz spends ~4 s decompressing itself. The kernel
 * command line carries only what zlinit needs before it can read its share
 * (all "zl.*" words are zlinit's):
 *   console=ttyS0 quiet panic=-1 zl.ip=ADDR/PREFIX zl.gw=GATEWAY
 * (no zl.ip: no network; zl.debug: zlinit prints timings on the console).
 * Two 9p shares (virtio, mount tags below):
 *   zlroot  the replica's rootfs, already an overlay on the host (image
 *           layers read-only and shared, the replica's upper dir); mounted
 *           read-write at /, the process runs chrooted in it;
 *   zlmeta  a host directory holding the process description (below),
 *           resolv.conf and hosts; mounted read-only at /.zl in the guest
 *           before the chroot and not visible to the process.
 * Further shares zlvol0, zlvol1, ... are bind mounts of the replica's
 * config.json (volumes): ZLVM_MOUNTS in zlmeta lists "TAG\tDEST\tro|rw",
 * or "TAG\tDEST\tro|rw\tFILE" for a volume that is one file: QEMU shares
 * directories only, so the share is a directory holding that file (named
 * FILE, no '/'), which the guest binds at DEST.
 * Inside the guest the process sees a container's view: proc, sysfs (ro),
 * a tmpfs /dev with the usual nodes, devpts, /dev/shm, /dev/mqueue, a tmpfs
 * /tmp (a unix socket cannot be bound on a 9p share: ENXIO), and zlmeta's
 * resolv.conf and hosts bound read-only on /etc unless a volume is there.
 *
 * ZLVM_PROCESS in zlmeta, one field per line, then NUL-separated lists:
 *   uid\n gid\n additional gids (comma-separated, may be empty)\n cwd\n
 *   hostname\n argc\n envc\n argv[0]\0...argv[argc-1]\0 env[0]\0...
 *
 * ---- The channel ----
 * One virtio-serial port named ZLVM_PORT_NAME (/dev/virtio-ports/zl.ctl in
 * the guest; a UNIX socket chardev on the host). Both ways, frames:
 *   u8 type, u32 length (little endian), length bytes of payload.
 * guest -> host:
 *   READY      ""                  init is up and the process started (its
 *                                  set-up done, its exec under way)
 *   STDOUT     bytes               the process's output
 *   STDERR     bytes
 *   EXIT       "CODE SIGNAL"       decimal: CODE its exit status when it
 *                                  exited, else 0; SIGNAL the signal that
 *                                  killed it, else 0 ("7 0", "0 15"). Sent
 *                                  once, then the guest powers off. A
 *                                  command that cannot be run is not a FAIL:
 *                                  it exits 127 (not found) or 126, with
 *                                  Docker's words on STDERR (exec: "NAME":
 *                                  executable file not found in $PATH)
 *   FAIL       "why"               init could not start the process (a
 *                                  mount, the cwd, the user...): one line,
 *                                  instead of READY, then power off
 *   EXEC_OUT   u32 id, u8 stream (1 out, 2 err), bytes
 *   EXEC_EXIT  u32 id, "CODE"      an exec ended: its exit status, 128+N when
 *                                  signal N killed it, 127/126 (the reason in
 *                                  EXEC_OUT 2) when it could not run; 126 for
 *                                  an EXEC arriving after the process exited
 * host -> guest:
 *   SIGNAL     "SIGNO"             deliver to the process (its group)
 *   EXEC       u32 id, argv NUL-separated (env, cwd, user: the process's)
 * After EXIT or FAIL the host closes its end of the channel: that is the
 * guest's cue to power off (QEMU drops what it still buffers when the guest
 * stops); without it the guest powers off 2 s later. The host may also
 * disconnect and reconnect during the run: output waits meanwhile (then the
 * process blocks on its full pipes), a half-sent frame is dropped.
 * A frame longer than ZLVM_FRAME_MAX is a protocol error: the guest kills
 * the process (EXIT follows). */
#ifndef ZL_VM_PROTO_H
#define ZL_VM_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ZLVM_PORT_NAME "zl.ctl"
#define ZLVM_ROOT_TAG "zlroot"
#define ZLVM_META_TAG "zlmeta"
#define ZLVM_PROCESS "process"
#define ZLVM_MOUNTS "mounts"
#define ZLVM_FRAME_MAX (1024 * 1024)
#define ZLVM_HEADER 5

enum zlvm_frame {
	ZLVM_READY = 1,
	ZLVM_STDOUT = 2,
	ZLVM_STDERR = 3,
	ZLVM_EXIT = 4,
	ZLVM_FAIL = 5,
	ZLVM_EXEC_OUT = 6,
	ZLVM_EXEC_EXIT = 7,
	ZLVM_SIGNAL = 16,
	ZLVM_EXEC = 17,
};

static inline void zlvm_put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static inline uint32_t zlvm_get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The 5-byte header of a frame of type with len payload bytes. */
static inline void zlvm_header(unsigned char out[ZLVM_HEADER], enum zlvm_frame type, uint32_t len)
{
	out[0] = (unsigned char)type;
	zlvm_put_u32(out + 1, len);
}

#endif
