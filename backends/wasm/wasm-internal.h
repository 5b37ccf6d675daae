/* wasm-internal.h: what the files of the wasm backend (backends/wasm/)
 * share. The public face is backend_wasm_ops (backends/backend.h). */
#ifndef ZL_WASM_INTERNAL_H
#define ZL_WASM_INTERNAL_H

#include "backends/backend.h"
#include "common/common.h"
#include "spec/spec.h"

/* ==== engine.c: which WASI engine runs modules here ==== */
struct wasm_engine {
	char *path;     /* the engine's binary (node) */
	char *flag;     /* an extra flag the engine needs for WASI; NULL none */
	char *launcher; /* zlwasi.mjs */
};
/* The engine to use: requested (a path or name: the CLI's --wasm-engine)
 * if given, else the one remembered in <root>/wasm-engine, else Node.js
 * found in $PATH and checked once to have node:wasi, then remembered.
 * Fails naming what to install when there is none. */
int wasm_engine_choose(const char *root, const char *requested, struct wasm_engine *e,
		       struct zl_err *err);
void wasm_engine_clear(struct wasm_engine *e);

/* ==== module.c: what a module is, from its bytes ==== */
enum wasm_module_kind { WASM_KIND_MODULE, WASM_KIND_COMPONENT };
/* Reads the binary at path: a core module must export a function named
 * _start (a WASI command); a component is reported as such. Errors (kind
 * INPUT) say what is wrong (not WebAssembly, truncated, no _start). */
int wasm_module_inspect(const char *path, enum wasm_module_kind *kind, struct zl_err *err);

/* ==== launch.c: the launcher's configuration of one replica ==== */
struct wasm_launch_input {
	const struct backend_replica_spec *rs;
	const char *dir;         /* the replica's directory */
	const char *volumes_dir; /* <root>/volumes/<deployment> */
};
/* Builds <dir>/wasi.json: argv, env, preopens (storage and wasm.preopens,
 * read-only kept), the memory cap, the workdir and where the launcher
 * records a trap. Creates the directories of named, anonymous and tmpfs
 * storage. Errors (kind INPUT) name the service and the key. */
int wasm_launch_write(const struct wasm_launch_input *in, struct zl_err *err);
#define WASM_LAUNCH_FILE "wasi.json"
/* The launcher records a trap or limit in SUPERVISE_DETAIL_FILE. */

/* ==== cgroup.c: the engine process's cgroup ==== */
/* Makes the cgroup (v2, or v1's memory, cpu, cpuacct and pids
 * hierarchies) with resources.cpu and resources.memory as limits; *procs
 * gets the cgroup.procs files the process enters (caller frees each and
 * the array). Without limits a cgroup that cannot be made is a warning and
 * no cgroup (*n 0). */
int wasm_cgroup_create(const char *cgroup, const struct spec_resources *r, char ***procs,
		       size_t *n, struct zl_err *err);
/* Frees what wasm_cgroup_create() or zl_cgroup_procs_files() gave. */
void wasm_cgroup_procs_free(char **procs, size_t n);

#endif
