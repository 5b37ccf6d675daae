/* vm-proto.h: what the host side of a VM replica (zlvm, the OCI runtime
 * that runs a bundle in a QEMU guest) and the guest's init (zlinit) say to
 * each other. Header-only (static inline): zlinit is a static binary that
 * links nothing of the project.
 *
 * ---- The guest ----
 * QEMU boots the Debian kernel with zlapply's initramfs (zlinit as /init and
 * the modules it loads). The kernel command line carries only what zlinit
 * needs before it can read its share (all "zl.*" words are zlinit's):
 *   console=ttyS0 quiet panic=-1 zl.ip=ADDR/PREFIX zl.gw=GATEWAY
 * (no zl.ip: no network). Two 9p shares (virtio, mount tags below):
 *   zlroot  the replica's rootfs, already an overlay on the host (image
 *           layers read-only and shared, the replica's upper dir); mounted
 *           read-write at /, the process runs chrooted in it;
 *   zlmeta  a host directory holding the process description (below),
 *           resolv.conf and hosts; mounted read-only at /.zl in the guest
 *           before the chroot and not visible to the process.
 * Further shares zlvol0, zlvol1, ... are bind mounts of the replica's
 * config.json (volumes): ZLVM_MOUNTS in zlmeta lists "TAG\tDEST\tro|rw".
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
 *   READY      ""                  init is up, the process is about to start
 *   STDOUT     bytes               the process's output
 *   STDERR     bytes
 *   EXIT       "CODE SIGNAL"       decimal; SIGNAL 0 when it exited; sent
 *                                  once, then the guest powers off
 *   FAIL       "why"               init could not start the process (mount,
 *                                  exec...): one line, then power off
 *   EXEC_OUT   u32 id, u8 stream (1 out, 2 err), bytes
 *   EXEC_EXIT  u32 id, "CODE"      an exec ended (127/126 when it could not run)
 * host -> guest:
 *   SIGNAL     "SIGNO"             deliver to the process (its group)
 *   EXEC       u32 id, argv NUL-separated (env and cwd: the process's)
 * A frame longer than ZLVM_FRAME_MAX is a protocol error. */
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
