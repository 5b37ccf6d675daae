// zlwasi.mjs: the wasm backend's launcher. It runs one WASI preview 1 module
// (a "command": it exports _start) under Node.js's node:wasi, as one replica.
// The C backend writes CONFIG.json and runs (flags before the script are its
// choice; none is needed but --no-warnings, which hides node's
// "WASI is experimental" line):
//
//   node --no-warnings [--stack-size=N] zlwasi.mjs CONFIG.json
//
// --stack-size (KiB) must stay well under the real stack (ulimit -s, 8 MiB by
// default): above it, deep wasm recursion kills node with SIGSEGV instead of
// trapping as stack_overflow. V8 flags the launcher needs it sets itself.
//
// CONFIG.json:
//   {
//     "module": "/abs/path/of/module.wasm",
//     "args": ["argv0", "arg1"],             argv as the module sees it
//     "env": ["K=V", "K2=V2"],               its whole environment
//     "preopens": [{"guest": "/data", "host": "/abs/host/dir",
//                   "readonly": false}],     fds 3, 4, ... in this order
//     "max_memory": 16777216,                bytes of linear memory, or null
//     "exit_record": "/abs/dir/exit-detail.json",
//     "workdir": "/data"                     a guest path, or null
//   }
// "args", "env", "preopens", "max_memory" and "workdir" may be left out
// (empty, no cap, none); empty args become [basename of module], as argv[0].
//
// Exit contract. The module's stdout and stderr are this process's fd 1 and 2;
// the launcher prints nothing on stdout, and each of its own complaints is one
// stderr line starting "zlwasi: ".
//   - The module returned from _start or called proc_exit(N): exit N (a code
//     outside 0..255 becomes 1, so that 256 cannot read as success) and NO
//     exit record (a stale one is removed at start).
//   - Anything else writes EXIT_RECORD (EXIT_RECORD.tmp, then rename) as
//     {"reason": R, "detail": D} before exiting:
//       126  wasm_invalid    config unreadable or malformed, module missing,
//                            unreadable, corrupt or truncated, an import WASI
//                            preview 1 does not provide, no _start export
//       126  wasm_component  a component (preview 2): node:wasi cannot run it
//       134  wasm_trap: NAME a trap (128+SIGABRT, as wasmtime); NAME is one of
//                            unreachable, divide_by_zero, integer_overflow,
//                            bad_conversion, memory_out_of_bounds,
//                            table_out_of_bounds, indirect_call_type,
//                            null_reference, stack_overflow, other
//       1    memory_limit    the module's initial memory is over max_memory
//       N    memory_limit    (N: the module's own code, or 134 if it trapped)
//                            a memory.grow past max_memory was refused and the
//                            run then failed (nonzero exit or trap). A module
//                            that coped with the refusal and exited 0 gets no
//                            record.
//
// Memory cap. node:wasi has no limit of its own. The module is rewritten
// before it is compiled: every `memory.grow` becomes a call to an appended
// function that refuses (returns -1, as wasmtime's ResourceLimiter does) a
// growth past the cap and sets an appended, exported global
// (__zlwasi_grow_refused), so a refusal is known, not guessed. A module the
// rewriter cannot read (an opcode it does not know, GC types, several or
// 64-bit memories) runs under V8's --wasm-max-mem-pages instead, and a failed
// run is blamed on the cap only when its memory ended close to it (the detail
// says "inferred"). Without a cap the module is not touched.
//
// Read-only preopens. node:wasi has no read-only option, so the preview 1
// imports are wrapped: a file system change through a read-only preopen (or
// an fd opened under one) fails with errno 69 (EROFS, "Read-only file
// system"). Opening for reading still works: wasi-libc's open(O_RDONLY) asks
// for every right except FD_WRITE, FD_ALLOCATE, FD_FILESTAT_SET_SIZE and
// FD_DATASYNC (checked), so only those rights, the O_CREAT/O_EXCL/O_TRUNC
// oflags and the append fdflag are refused. The guard is per preopen: a
// read-only host directory inside a writable preopen's host directory can
// still be changed through the writable one.
//
// Working directory. WASI preview 1 has no cwd. What works (checked against
// Debian's wasi-libc 0.0~git20220510): wasi-libc starts with cwd "/" and
// resolves a relative path "x" as "/x" against the preopens, longest name
// first; a preopen named "." matches every path no other preopen matches. So
// for "workdir" the launcher adds a preopen "." (after the configured ones)
// on the host directory of workdir, and sets PWD=workdir unless env has PWD
// (for runtimes that read it: Go's wasip1 port is said to; not checked
// here). Consequences: relative paths open in workdir; "x/y" whose first
// part names a preopen ("data/f" with a "/data" preopen) goes to that
// preopen instead; an absolute path under no preopen lands in workdir
// rather than failing; getcwd() still says "/".
// A workdir under no preopen only sets PWD (relative paths then fail, as
// without a workdir).

import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { WASI } from 'node:wasi';

const EXIT_INVALID = 126;
const EXIT_TRAP = 134;
const EXIT_INITIAL_MEMORY = 1;
const PAGE = 65536;
const MIB = 1024 * 1024;
const REFUSED_EXPORT = '__zlwasi_grow_refused';
const NO_START = 'the module exports no _start (not a WASI command; a reactor ' +
  'or library module cannot run as a replica)';
const COMPONENT = 'this is a WebAssembly component (WASI preview 2); node:wasi ' +
  'runs preview 1 modules only: a component needs wasmtime (`wasmtime run`)';

// A run that ends before or instead of the module's own exit.
class Stop extends Error {
  constructor(code, reason, detail) {
    super(detail);
    this.code = code;
    this.reason = reason;
  }
}

const invalid = (detail) => new Stop(EXIT_INVALID, 'wasm_invalid', detail);

// Node 20 bug, seen as SIGABRT in uv_mutex_destroy under ~WASI in about one
// run in two of a module that grows to 64 MiB and then prints: uvwasi's
// allocator reports external memory to V8 from inside a "fast API call" made
// straight from wasm (fd_write), that starts a GC there, and the GC collects
// the live WASI binding (its weak callback runs the destructor mid-run).
// Plain API calls are made instead, and everything the run uses is also held
// from here; each of the two alone stopped the aborts (0 in 30 runs each).
v8.setFlagsFromString('--no-turbo-fast-api-calls');
const keepAlive = [];

// ---------------------------------------------------------------- output --

function say(line) {
  // One line, whatever the message holds: the C side reads line by line.
  fs.writeSync(2, `zlwasi: ${String(line).replace(/\s*\n\s*/g, ' ')}\n`);
}

// Written whole under another name, then renamed, so a reader never sees
// half a record.
function writeRecord(file, reason, detail) {
  if (!file)
    return;
  try {
    fs.writeFileSync(`${file}.tmp`, JSON.stringify({ reason, detail }) + '\n');
    fs.renameSync(`${file}.tmp`, file);
  } catch (e) {
    say(`cannot write the exit record ${file}: ${e.message}`);
  }
}

// The last run's record (and the temporary of one killed while writing it).
function removeStale(file) {
  if (!file)
    return;
  for (const f of [file, `${file}.tmp`]) {
    try {
      fs.unlinkSync(f);
    } catch (e) {
      if (e.code !== 'ENOENT')
        throw invalid(`cannot remove the stale exit record ${f}: ${e.message}`);
    }
  }
}

// "16 MiB", "15.1 MiB", "128 KiB": sizes as the spec writes them.
const mib = (bytes) => {
  if (bytes < MIB)
    return `${Math.round(bytes / 1024)} KiB`;
  const m = bytes / MIB;
  return Number.isInteger(m) ? `${m} MiB` : `${m.toFixed(1)} MiB`;
};

// ---------------------------------------------------------------- config --

function loadConfig(file) {
  let cfg;
  try {
    cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw invalid(`config ${file}: ${e.message}`);
  }
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg))
    throw invalid(`config ${file}: not a JSON object`);
  return cfg;
}

// Checked field by field so that a mistake of the C side names the field.
function checkConfig(cfg) {
  const strings = (v, what) => {
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))
      throw invalid(`config: ${what} must be an array of strings`);
    return v;
  };
  if (typeof cfg.module !== 'string' || cfg.module === '')
    throw invalid('config: module must be a path');
  let args = strings(cfg.args ?? [], 'args');
  // No argv[0] makes wasi-libc's start-up exit 71 (args_get fails under
  // node:wasi); wasmtime passes the module's name, so do the same.
  if (args.length === 0)
    args = [path.basename(cfg.module)];
  const env = {};
  for (const kv of strings(cfg.env ?? [], 'env')) {
    const eq = kv.indexOf('=');
    if (eq <= 0)
      throw invalid(`config: env entry "${kv}" is not K=V`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const preopens = cfg.preopens ?? [];
  if (!Array.isArray(preopens))
    throw invalid('config: preopens must be an array');
  for (const p of preopens) {
    if (!p || typeof p.guest !== 'string' || p.guest === '' ||
        typeof p.host !== 'string' || p.host === '' ||
        (p.readonly !== undefined && typeof p.readonly !== 'boolean'))
      throw invalid('config: each preopen needs guest and host paths ' +
        '(and readonly, a boolean)');
  }
  const cap = cfg.max_memory ?? null;
  if (cap !== null && !(Number.isSafeInteger(cap) && cap >= 0))
    throw invalid('config: max_memory must be a number of bytes or null');
  const workdir = cfg.workdir ?? null;
  if (workdir !== null && (typeof workdir !== 'string' || workdir === ''))
    throw invalid('config: workdir must be a guest path or null');
  return { module: cfg.module, args, env, preopens, cap, workdir };
}

// ------------------------------------------------------------- preopens --

// The guest path of a preopen without a trailing slash, for prefix matching.
const guestKey = (g) => (g === '/' ? '/' : path.posix.normalize(g).replace(/\/$/, ''));

// The host directory of workdir: under the preopen with the longest guest
// path containing it, as wasi-libc itself would choose. Null when no preopen
// holds it: an image's WorkingDir often names a directory the module is not
// given, and that must not stop it from running.
function workdirPreopen(workdir, preopens) {
  const want = guestKey(workdir);
  if (want.split('/').includes('..'))
    throw invalid(`config: workdir ${workdir} must not contain ".."`);
  let best = null;
  for (const p of preopens) {
    const g = guestKey(p.guest);
    const under = g === want || want.startsWith(g === '/' ? '/' : `${g}/`);
    if (under && (!best || g.length > guestKey(best.guest).length))
      best = p;
  }
  if (!best)
    return null;
  const rest = path.posix.relative(guestKey(best.guest), want);
  const cwd = { guest: '.', host: path.join(best.host, rest), readonly: !!best.readonly };
  hostDir(cwd, `workdir ${workdir}`);
  return cwd;
}

// uvwasi would only say ENOENT, not which preopen.
function hostDir(p, what = `preopen ${p.guest}`) {
  let st;
  try {
    st = fs.statSync(p.host);
  } catch (e) {
    throw invalid(`${what}: ${e.message}`);
  }
  if (!st.isDirectory())
    throw invalid(`${what}: ${p.host} is not a directory`);
}

// node:wasi takes the preopens as an object and gives them fds 3, 4, ... in
// the object's key order (checked: uvwasi walks the keys in order). Key order
// is insertion order except for integer-like keys, so the fds are read back
// from Object.keys() rather than assumed from the config.
function preopenTable(preopens, workdir) {
  const all = [...preopens];
  const cwd = workdir === null ? null : workdirPreopen(workdir, preopens);
  if (cwd)
    all.push(cwd);
  const dirs = {};
  const readonly = new Set();
  for (const p of all) {
    if (Object.hasOwn(dirs, p.guest))
      throw invalid(`config: preopen ${p.guest} given twice`);
    if (p !== cwd)
      hostDir(p);
    dirs[p.guest] = p.host;
  }
  Object.keys(dirs).forEach((guest, i) => {
    if (all.find((p) => p.guest === guest).readonly)
      readonly.add(3 + i);
  });
  return { dirs, readonly };
}

// ------------------------------------------------------------ read-only --

const EROFS = 69; // WASI preview 1 errno `rofs`
const OFLAGS_WRITE = 1 | 4 | 8; // creat, excl, trunc (directory = 2 is fine)
const FDFLAGS_APPEND = 1;
// fd_datasync (bit 0), fd_write (6), fd_allocate (8), fd_filestat_set_size
// (22): the rights wasi-libc asks for only when opening for writing.
const RIGHTS_WRITE = (1n << 0n) | (1n << 6n) | (1n << 8n) | (1n << 22n);

// Wraps the preview 1 imports so nothing changes a read-only tree. `ro` is
// the set of read-only fds; it follows path_open, fd_renumber and fd_close.
function readonlyImports(wasiImport, ro, memory) {
  const w = { ...wasiImport };
  const refuse = (name, isRo) => {
    const real = wasiImport[name];
    w[name] = (...a) => (isRo(...a) ? EROFS : real(...a));
  };
  const first = (fd) => ro.has(fd);
  for (const name of ['path_create_directory', 'path_unlink_file',
    'path_remove_directory', 'path_filestat_set_times', 'fd_filestat_set_size',
    'fd_filestat_set_times', 'fd_pwrite', 'fd_allocate'])
    refuse(name, first);
  refuse('path_rename', (fd, _p, _l, fd2) => ro.has(fd) || ro.has(fd2));
  // A hard link out of a read-only tree would be writable through the link.
  refuse('path_link', (fd, _f, _p, _l, fd2) => ro.has(fd) || ro.has(fd2));
  refuse('path_symlink', (_p, _l, fd) => ro.has(fd));

  // The hot one (every printf): no rest parameters.
  const fdWrite = wasiImport.fd_write;
  w.fd_write = (fd, iovs, n, out) => (ro.has(fd) ? EROFS : fdWrite(fd, iovs, n, out));

  const pathOpen = wasiImport.path_open;
  w.path_open = (fd, dirflags, p, len, oflags, base, inheriting, fdflags, out) => {
    const dirRo = ro.has(fd);
    if (dirRo && ((oflags & OFLAGS_WRITE) || (fdflags & FDFLAGS_APPEND) ||
        (BigInt(base) & RIGHTS_WRITE)))
      return EROFS;
    const err = pathOpen(fd, dirflags, p, len, oflags, base, inheriting, fdflags, out);
    if (err === 0) {
      const opened = new DataView(memory().buffer).getUint32(out, true);
      if (dirRo)
        ro.add(opened);
      else
        ro.delete(opened); // a reused number
    }
    return err;
  };
  const renumber = wasiImport.fd_renumber;
  w.fd_renumber = (from, to) => {
    const err = renumber(from, to);
    if (err === 0) {
      if (ro.has(from))
        ro.add(to);
      else
        ro.delete(to);
      ro.delete(from);
    }
    return err;
  };
  const close = wasiImport.fd_close;
  w.fd_close = (fd) => {
    const err = close(fd);
    if (err === 0)
      ro.delete(fd);
    return err;
  };
  return w;
}

// ---------------------------------------------------- binary: reading --

// Thrown when the rewriter meets something it does not understand; the cap
// then falls back to V8's flag. Not an error of the module: V8 judges that.
class Unreadable extends Error {}

class Reader {
  constructor(b, pos, end) {
    this.b = b;
    this.pos = pos;
    this.end = end;
  }

  byte() {
    if (this.pos >= this.end)
      throw new Unreadable('unexpected end');
    return this.b[this.pos++];
  }

  // Unsigned LEB128 up to 32 bits (counts, indices, sizes).
  u32() {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const c = this.byte();
      v += (c & 0x7f) * 2 ** shift;
      if (!(c & 0x80))
        return v;
    }
    throw new Unreadable('LEB128 too long');
  }

  // Any LEB128 (signed or not, up to 64 bits) whose value does not matter.
  skipLeb() {
    for (let i = 0; i < 10; i++) {
      if (!(this.byte() & 0x80))
        return;
    }
    throw new Unreadable('LEB128 too long');
  }

  skip(n) {
    if (this.pos + n > this.end)
      throw new Unreadable('unexpected end');
    this.pos += n;
  }

  // A value type: one byte, but (ref null? HT) carries a heap type.
  valtype() {
    const t = this.byte();
    if (t === 0x63 || t === 0x64)
      this.skipLeb();
  }

  // A block type: 0x40, a value type, or a type index (an s33).
  blocktype() {
    const t = this.byte();
    if (t === 0x63 || t === 0x64)
      this.skipLeb();
    else if (t & 0x80)
      this.skipLeb();
  }

  // align (bit 6: a memory index follows, multi-memory), then the offset.
  memarg() {
    if (this.u32() & 0x40)
      this.skipLeb();
    this.skipLeb();
  }

  // A name or a vector of bytes.
  bytes() {
    this.skip(this.u32());
  }

  limits() {
    const flags = this.byte();
    this.skipLeb();
    if (flags & 1)
      this.skipLeb();
    return flags;
  }
}

// What follows each one-byte opcode.
const I_NONE = 0, I_BAD = 1, I_LEB = 2, I_LEB2 = 3, I_BLOCK = 4, I_MEMARG = 5,
  I_BRTABLE = 6, I_F32 = 7, I_F64 = 8, I_SELECT_T = 9, I_TRY_TABLE = 10,
  I_GROW = 11, I_FC = 12, I_FD = 13, I_FE = 14;

const IMMEDIATES = (() => {
  const t = new Uint8Array(256).fill(I_BAD);
  const set = (from, to, kind) => t.fill(kind, from, to + 1);
  set(0x00, 0x01, I_NONE); // unreachable nop
  set(0x02, 0x04, I_BLOCK); // block loop if
  set(0x05, 0x05, I_NONE); // else
  set(0x06, 0x06, I_BLOCK); // try (legacy exceptions)
  set(0x07, 0x09, I_LEB); // catch throw rethrow
  set(0x0a, 0x0b, I_NONE); // throw_ref end
  set(0x0c, 0x0d, I_LEB); // br br_if
  set(0x0e, 0x0e, I_BRTABLE);
  set(0x0f, 0x0f, I_NONE); // return
  set(0x10, 0x10, I_LEB); // call
  set(0x11, 0x11, I_LEB2); // call_indirect type table
  set(0x12, 0x12, I_LEB); // return_call
  set(0x13, 0x13, I_LEB2); // return_call_indirect
  set(0x14, 0x15, I_LEB); // call_ref return_call_ref
  set(0x18, 0x18, I_LEB); // delegate
  set(0x19, 0x1b, I_NONE); // catch_all drop select
  set(0x1c, 0x1c, I_SELECT_T);
  set(0x1f, 0x1f, I_TRY_TABLE);
  set(0x20, 0x26, I_LEB); // local.* global.* table.get table.set
  set(0x28, 0x3e, I_MEMARG); // loads and stores
  set(0x3f, 0x3f, I_LEB); // memory.size
  set(0x40, 0x40, I_GROW);
  set(0x41, 0x42, I_LEB); // i32.const i64.const
  set(0x43, 0x43, I_F32);
  set(0x44, 0x44, I_F64);
  set(0x45, 0xc4, I_NONE); // numeric, sign extension
  set(0xd0, 0xd0, I_LEB); // ref.null heaptype
  set(0xd1, 0xd1, I_NONE); // ref.is_null
  set(0xd2, 0xd2, I_LEB); // ref.func
  set(0xd3, 0xd4, I_NONE); // ref.eq ref.as_non_null
  set(0xd5, 0xd6, I_LEB); // br_on_null br_on_non_null
  t[0xfc] = I_FC;
  t[0xfd] = I_FD;
  t[0xfe] = I_FE;
  return t; // 0xfb (GC) and the rest: unknown
})();

// 0xFC: saturating truncation, bulk memory, reference-type tables.
function skipFC(r) {
  const op = r.u32();
  if (op <= 7)
    return;
  if (op === 8 || op === 10 || op === 12 || op === 14) { // memory.init memory.copy table.init table.copy
    r.skipLeb();
    r.skipLeb();
  } else if (op === 9 || op === 11 || op === 13 || (op >= 15 && op <= 17)) {
    r.skipLeb();
  } else {
    throw new Unreadable(`opcode 0xfc ${op}`);
  }
}

// 0xFD: SIMD (with relaxed SIMD, 0x100-0x113).
function skipFD(r) {
  const op = r.u32();
  if (op <= 11 || op === 92 || op === 93) { // loads, stores, load_zero
    r.memarg();
  } else if (op === 12 || op === 13) { // v128.const i8x16.shuffle
    r.skip(16);
  } else if (op >= 21 && op <= 34) { // extract_lane replace_lane
    r.skip(1);
  } else if (op >= 84 && op <= 91) { // load_lane store_lane
    r.memarg();
    r.skip(1);
  } else if (op > 0x113) {
    throw new Unreadable(`opcode 0xfd ${op}`);
  }
}

// 0xFE: threads (atomics).
function skipFE(r) {
  const op = r.u32();
  if (op <= 2 || (op >= 0x10 && op <= 0x4e))
    r.memarg();
  else if (op === 3) // atomic.fence
    r.skip(1);
  else
    throw new Unreadable(`opcode 0xfe ${op}`);
}

// Walks one function body; returns the [start, end) byte ranges of its
// memory.grow instructions. It meets every instruction of the module before
// V8 has optimized any of it, so the common cases are skipped inline on
// local variables (no calls, no property loads): 3 times faster cold. A LEB
// running past the body is caught by the end check; past the buffer, b[p]
// is undefined and ends the loop.
function findGrows(r) {
  const grows = [];
  let n = r.u32(); // local declarations
  while (n-- > 0) {
    r.skipLeb();
    r.valtype();
  }
  const b = r.b;
  const end = r.end;
  let p = r.pos;
  while (p < end) {
    const at = p;
    const op = b[p++];
    const kind = IMMEDIATES[op];
    if (kind === I_NONE)
      continue;
    if (kind === I_LEB) {
      while (b[p++] & 0x80);
      continue;
    }
    if (kind === I_MEMARG) { // align (bit 6: a memory index follows), offset
      const align = b[p];
      while (b[p++] & 0x80);
      if (align & 0x40)
        while (b[p++] & 0x80);
      while (b[p++] & 0x80);
      continue;
    }
    if (kind === I_BLOCK) { // 0x40, a value type, or an s33 type index
      const t = b[p++];
      if (t === 0x63 || t === 0x64 || (t & 0x80))
        while (b[p++] & 0x80);
      continue;
    }
    r.pos = p;
    switch (kind) {
      case I_LEB2: r.skipLeb(); r.skipLeb(); break;
      case I_BRTABLE: for (let k = r.u32(); k >= 0; k--) r.skipLeb(); break;
      case I_F32: r.skip(4); break;
      case I_F64: r.skip(8); break;
      case I_SELECT_T: for (let k = r.u32(); k > 0; k--) r.valtype(); break;
      case I_TRY_TABLE: skipTryTable(r); break;
      case I_GROW:
        if (r.u32() !== 0)
          throw new Unreadable('memory.grow of a memory other than 0');
        grows.push([at, r.pos]);
        break;
      case I_FC: skipFC(r); break;
      case I_FD: skipFD(r); break;
      case I_FE: skipFE(r); break;
      default: throw new Unreadable(`opcode 0x${op.toString(16)}`);
    }
    p = r.pos;
  }
  if (p !== end || b[end - 1] !== 0x0b)
    throw new Unreadable('a function body does not end where its size says');
  return grows;
}

function skipTryTable(r) {
  r.blocktype();
  for (let k = r.u32(); k > 0; k--) {
    const kind = r.byte();
    if (kind > 3)
      throw new Unreadable(`try_table catch kind ${kind}`);
    if (kind <= 1) // catch catch_ref: a tag, then the label
      r.skipLeb();
    r.skipLeb();
  }
}

// ---------------------------------------------------- binary: sections --

// Section order of the binary format (custom sections, id 0, go anywhere).
const SECTION_RANK = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 };

function splitSections(b) {
  const list = [];
  const r = new Reader(b, 8, b.length);
  while (r.pos < b.length) {
    const head = r.pos;
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    r.skip(size);
    list.push({ id, head, start, end: r.pos });
  }
  return list;
}

// What the rewrite needs to know of the module, read from its sections.
function surveyModule(b, list) {
  const m = { types: 0, importFuncs: 0, importGlobals: 0, memories: [], funcs: 0, globals: 0 };
  for (const s of list) {
    const r = new Reader(b, s.start, s.end);
    if (s.id === 1)
      m.types = surveyTypes(r);
    else if (s.id === 2)
      surveyImports(r, m);
    else if (s.id === 3)
      m.funcs = r.u32();
    else if (s.id === 5)
      for (let k = r.u32(); k > 0; k--) m.memories.push(readMemory(r));
    else if (s.id === 6)
      m.globals = r.u32();
  }
  return m;
}

// Counts the types; any but a plain function type (GC's struct, array, rec
// groups) would make the count differ from the index space: not rewritten.
function surveyTypes(r) {
  const n = r.u32();
  for (let k = 0; k < n; k++) {
    if (r.byte() !== 0x60)
      throw new Unreadable('a non-function type (GC)');
    for (let v = r.u32(); v > 0; v--) r.valtype();
    for (let v = r.u32(); v > 0; v--) r.valtype();
  }
  return n;
}

function surveyImports(r, m) {
  for (let k = r.u32(); k > 0; k--) {
    r.bytes();
    r.bytes();
    const kind = r.byte();
    if (kind === 0) {
      r.skipLeb();
      m.importFuncs++;
    } else if (kind === 1) {
      r.valtype();
      r.limits();
    } else if (kind === 2) {
      m.memories.push({ ...readMemory(r), imported: true });
    } else if (kind === 3) {
      r.valtype();
      r.byte();
      m.importGlobals++;
    } else if (kind === 4) {
      r.byte();
      r.skipLeb();
    } else {
      throw new Unreadable(`import kind ${kind}`);
    }
  }
}

function readMemory(r) {
  const flags = r.byte();
  const min = r.u32();
  if (flags & 1)
    r.skipLeb();
  return { min, memory64: !!(flags & 4) };
}

// ---------------------------------------------------- binary: writing --

function uleb(n) {
  const out = [];
  do {
    let c = n % 128;
    n = Math.floor(n / 128);
    if (n)
      c |= 0x80;
    out.push(c);
  } while (n);
  return out;
}

function sleb(n) {
  const out = [];
  for (;;) {
    const c = n & 0x7f;
    n = Math.floor(n / 128);
    if ((n === 0 && !(c & 0x40)) || (n === -1 && (c & 0x40))) {
      out.push(c);
      return out;
    }
    out.push(c | 0x80);
  }
}

const section = (id, payload) => Buffer.concat([Buffer.from([id, ...uleb(payload.length)]), payload]);

// An existing vector section with one more entry at its end.
function appendEntry(b, s, entry) {
  const r = new Reader(b, s.start, s.end);
  const n = r.u32();
  return section(s.id, Buffer.concat([Buffer.from(uleb(n + 1)), b.subarray(r.pos, s.end),
    Buffer.from(entry)]));
}

// (func (param $delta i32) (result i32)): refuses growth past capPages.
//   (if (i64.gt_u (i64.add (i64.extend_i32_u (memory.size))
//                          (i64.extend_i32_u (local.get 0))) (i64.const cap))
//     (then (global.set $refused (i32.const 1)) (return (i32.const -1))))
//   (memory.grow (local.get 0))
// In i64 so that a huge delta cannot wrap around the comparison.
function growBody(capPages, refusedGlobal) {
  const code = [0x00, 0x3f, 0x00, 0xad, 0x20, 0x00, 0xad, 0x7c, 0x42, ...sleb(capPages),
    0x56, 0x04, 0x40, 0x41, 0x01, 0x24, ...uleb(refusedGlobal), 0x41, 0x7f, 0x0f, 0x0b,
    0x20, 0x00, 0x40, 0x00, 0x0b];
  return [...uleb(code.length), ...code];
}

// The code section with each memory.grow replaced by `call growFunc`, and
// growFunc's body appended. Null when no function grows memory.
function rewriteCode(b, s, growFunc, body) {
  const r = new Reader(b, s.start, s.end);
  const count = r.u32();
  const call = Buffer.from([0x10, ...uleb(growFunc)]);
  const parts = [Buffer.from(uleb(count + 1))];
  let any = false;
  for (let k = 0; k < count; k++) {
    const size = r.u32();
    const start = r.pos;
    const grows = findGrows(new Reader(b, start, start + size));
    r.skip(size);
    if (!grows.length) {
      parts.push(Buffer.from(uleb(size)), b.subarray(start, start + size));
      continue;
    }
    any = true;
    const pieces = [];
    let from = start;
    for (const [at, end] of grows) {
      pieces.push(b.subarray(from, at), call);
      from = end;
    }
    pieces.push(b.subarray(from, start + size));
    const fn = Buffer.concat(pieces);
    parts.push(Buffer.from(uleb(fn.length)), fn);
  }
  if (r.pos !== s.end)
    throw new Unreadable('the code section is longer than its functions');
  parts.push(Buffer.from(body));
  return any ? section(10, Buffer.concat(parts)) : null;
}

// Puts `extra` sections where the binary format's order wants them.
function assemble(b, list, replaced, extra) {
  const out = [b.subarray(0, 8)];
  const pending = [...extra].sort((x, y) => SECTION_RANK[x.id] - SECTION_RANK[y.id]);
  for (const s of list) {
    while (s.id !== 0 && pending.length && SECTION_RANK[pending[0].id] < SECTION_RANK[s.id])
      out.push(pending.shift().bytes);
    out.push(replaced.get(s) ?? b.subarray(s.head, s.end));
  }
  for (const p of pending)
    out.push(p.bytes);
  return Buffer.concat(out);
}

// ------------------------------------------------------------ memory cap --

// Returns {bytes, mode}: mode "instrumented" (bytes rewritten), "untouched"
// (nothing grows memory) or "flag" (V8's --wasm-max-mem-pages, with `why`).
// Throws Stop(memory_limit) when the initial memory is already over the cap.
function capMemory(b, cap) {
  const capPages = Math.floor(cap / PAGE);
  let list, m;
  try {
    list = splitSections(b);
    m = surveyModule(b, list);
  } catch (e) {
    if (!(e instanceof Unreadable))
      throw e;
    return useFlag(b, capPages, e.message);
  }
  for (const mem of m.memories) {
    if (mem.min > capPages)
      throw new Stop(EXIT_INITIAL_MEMORY, 'memory_limit', `the module needs ` +
        `${mib(mem.min * PAGE)} at start, wasm.max_memory is ${mib(cap)}`);
  }
  if (m.memories.length === 0)
    return { bytes: b, mode: 'untouched' };
  if (m.memories.length > 1 || m.memories[0].memory64 || m.memories[0].imported)
    return useFlag(b, capPages, 'several, 64-bit or imported memories');
  try {
    return rewrite(b, list, m, capPages);
  } catch (e) {
    if (!(e instanceof Unreadable))
      throw e;
    return useFlag(b, capPages, e.message);
  }
}

function useFlag(b, capPages, why) {
  v8.setFlagsFromString(`--wasm-max-mem-pages=${capPages}`);
  return { bytes: b, mode: 'flag', why };
}

// Appends the type (i32)->(i32), the function, the refused global and its
// export; indices of everything already there stay as they were.
function rewrite(b, list, m, capPages) {
  const find = (id) => list.find((s) => s.id === id);
  const [types, funcs, globals, exports, code] = [1, 3, 6, 7, 10].map(find);
  if (!code || !funcs || !exports)
    return { bytes: b, mode: 'untouched' }; // no code, or no _start: V8 will say
  const growFunc = m.importFuncs + m.funcs;
  const refused = m.importGlobals + m.globals;
  const newCode = rewriteCode(b, code, growFunc, growBody(capPages, refused));
  if (!newCode)
    return { bytes: b, mode: 'untouched' };
  const fnType = [0x60, 0x01, 0x7f, 0x01, 0x7f];
  const replaced = new Map([[code, newCode],
    [funcs, appendEntry(b, funcs, uleb(m.types))],
    [exports, appendEntry(b, exports, [...uleb(REFUSED_EXPORT.length),
      ...Buffer.from(REFUSED_EXPORT), 0x03, ...uleb(refused)])]]);
  const global = [0x7f, 0x01, 0x41, 0x00, 0x0b]; // (mut i32) (i32.const 0)
  const extra = [];
  if (types)
    replaced.set(types, appendEntry(b, types, fnType));
  else
    extra.push({ id: 1, bytes: section(1, Buffer.from([1, ...fnType])) });
  if (globals)
    replaced.set(globals, appendEntry(b, globals, global));
  else
    extra.push({ id: 6, bytes: section(6, Buffer.from([1, ...global])) });
  return { bytes: assemble(b, list, replaced, extra), mode: 'instrumented' };
}

// ------------------------------------------------------------------ run --

function readModule(file) {
  let b;
  try {
    b = fs.readFileSync(file);
  } catch (e) {
    throw invalid(`cannot read the module: ${e.message}`);
  }
  // \0asm, then a version and a layer: layer 1 is a component.
  if (b.length >= 8 && b.readUInt32BE(0) === 0x0061736d && b[6] === 1 && b[7] === 0)
    throw new Stop(EXIT_INVALID, 'wasm_component', COMPONENT);
  return b;
}

// Compiles the (maybe rewritten) module. Should that fail, the original is
// compiled too, so the message speaks of the module as shipped and a fault
// of the rewriter cannot pass for one of the module.
function compile(prepared, original) {
  try {
    return new WebAssembly.Module(prepared.bytes);
  } catch (e) {
    if (prepared.bytes === original)
      throw invalid(e.message);
    try {
      new WebAssembly.Module(original);
    } catch (e2) {
      throw invalid(e2.message);
    }
    throw invalid(`zlwasi could not instrument memory.grow for ` +
      `wasm.max_memory (${e.message}); please report this module`);
  }
}

// What wasi.start() insists on, checked before anything runs so that it
// reads as an invalid module, not as a failure of the run.
function checkCommand(module) {
  const kinds = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  if (kinds.get('_start') !== 'function')
    throw invalid(NO_START);
  if (kinds.has('_initialize'))
    throw invalid('the module exports both _start and _initialize (a command must not ' +
      'export _initialize)');
  if (kinds.get('memory') !== 'memory')
    throw invalid('the module exports no memory named "memory" (WASI needs it)');
}

// V8's RuntimeError messages (and RangeError for the stack) to short names.
const TRAPS = [
  [/unreachable/, 'unreachable'],
  [/(divide|remainder) by zero/, 'divide_by_zero'],
  [/divide result unrepresentable|integer overflow/, 'integer_overflow'],
  [/float unrepresentable|invalid conversion/, 'bad_conversion'],
  [/memory access out of bounds|data segment/, 'memory_out_of_bounds'],
  [/table index is out of bounds|table access|element segment|invalid index into function table/,
    'table_out_of_bounds'],
  [/signature mismatch|null function/, 'indirect_call_type'],
  [/null pointer|null reference|dereferencing a null/, 'null_reference'],
  [/maximum call stack size exceeded/, 'stack_overflow'],
];

function trapName(e) {
  const msg = String(e?.message ?? e).toLowerCase();
  for (const [re, name] of TRAPS) {
    if (re.test(msg))
      return name;
  }
  return 'other';
}

// "in f < g < _start": the innermost wasm frames, for the one stderr line.
function wasmFrames(e) {
  const names = [];
  for (const line of String(e?.stack ?? '').split('\n')) {
    const m = /^\s*at (\S+) \(wasm:/.exec(line);
    if (m)
      names.push(m[1].replace(/^.*\.wasm\./, ''));
  }
  return names.length ? ` in ${names.slice(0, 4).join(' < ')}` : '';
}

function trapOf(e) {
  return { name: trapName(e), message: String(e?.message ?? e), where: wasmFrames(e) };
}

// Runs _start; returns {code, trap}. Instantiation is inside: a start
// function may trap too.
function run(module, wasi, imports) {
  let instance = null;
  try {
    instance = new WebAssembly.Instance(module, imports.object);
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError || e instanceof RangeError)
      return { instance, code: EXIT_TRAP, trap: trapOf(e) };
    throw invalid(e.message);
  }
  imports.setInstance(instance);
  keepAlive.push(instance, imports);
  try {
    const code = wasi.start(instance);
    return { instance, code: code >= 0 && code <= 255 ? code : 1, trap: null };
  } catch (e) {
    return { instance, code: EXIT_TRAP, trap: trapOf(e) };
  }
}

// ------------------------------------------------------------- the end --

// Says why the run failed (or nothing) and what to exit with.
function verdict(out, prepared, cap) {
  const failed = out.trap !== null || out.code !== 0;
  const then = out.trap ? `trapped: ${out.trap.name}` : `exited ${out.code}`;
  const exp = out.instance?.exports;
  if (failed && prepared.mode === 'instrumented' && exp?.[REFUSED_EXPORT]?.value)
    return ['memory_limit', `memory.grow past wasm.max_memory (${mib(cap)}) was ` +
      `refused; the module then ${then}`];
  if (failed && prepared.mode === 'flag' && exp?.memory instanceof WebAssembly.Memory) {
    const used = exp.memory.buffer.byteLength;
    // An allocator grows by as much as it was asked for (1 MiB and more), so
    // "close to the cap" is an eighth of it (at most 2 MiB), not one page.
    const margin = Math.max(PAGE, Math.min(cap / 8, 2 * MIB));
    if (used + margin > cap)
      return ['memory_limit', `inferred: the module's memory reached ${mib(used)} of ` +
        `wasm.max_memory (${mib(cap)}) and it then ${then}; zlwasi could not instrument ` +
        `memory.grow (${prepared.why}), so a refused growth is assumed, not known`];
  }
  if (out.trap)
    return [`wasm_trap: ${out.trap.name}`, out.trap.message];
  return null;
}

function main(argv) {
  let record = null;
  try {
    if (argv.length !== 1)
      throw invalid('usage: node --no-warnings zlwasi.mjs CONFIG.json');
    const raw = loadConfig(argv[0]);
    if (typeof raw.exit_record === 'string' && raw.exit_record !== '')
      record = raw.exit_record;
    removeStale(record);
    const cfg = checkConfig(raw);
    const original = readModule(cfg.module);
    const prepared = cfg.cap === null ? { bytes: original, mode: 'none' }
      : capMemory(original, cfg.cap);
    const module = compile(prepared, original);
    checkCommand(module);
    const { wasi, imports } = makeWasi(cfg);
    const out = run(module, wasi, imports);
    const why = verdict(out, prepared, cfg.cap);
    if (why) {
      say(`${why[0]}: ${why[1]}${out.trap?.where ?? ''}`);
      writeRecord(record, why[0], why[1]);
    }
    return out.code;
  } catch (e) {
    const stop = e instanceof Stop ? e : invalid(`zlwasi internal error: ${e?.stack ?? e}`);
    say(`${stop.reason}: ${stop.message}`);
    writeRecord(record, stop.reason, stop.message);
    return stop.code;
  }
}

function makeWasi(cfg) {
  const { dirs, readonly } = preopenTable(cfg.preopens, cfg.workdir);
  const env = { ...cfg.env };
  if (cfg.workdir !== null && !Object.hasOwn(env, 'PWD'))
    env.PWD = cfg.workdir;
  let wasi;
  try {
    wasi = new WASI({ version: 'preview1', args: cfg.args, env, preopens: dirs, returnOnExit: true });
  } catch (e) {
    throw invalid(`cannot set up WASI: ${e.message}`);
  }
  keepAlive.push(wasi);
  let instance = null;
  const base = wasi.getImportObject();
  const object = readonly.size === 0 ? base : {
    ...base,
    wasi_snapshot_preview1: readonlyImports(base.wasi_snapshot_preview1, readonly,
      () => instance.exports.memory),
  };
  return { wasi, imports: { object, setInstance: (i) => { instance = i; } } };
}

process.exit(main(process.argv.slice(2)));
