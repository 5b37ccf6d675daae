/* noentry: a reactor: it exports _initialize and foo but no _start, so it
 * cannot run as a replica and the launcher says so (wasm_invalid).
 * build-flags: -mexec-model=reactor
 * (tests/infra/build-wasm-modules.sh reads the line above.) */
__attribute__((export_name("foo"))) int foo(int x)
{
    return x * 2;
}
