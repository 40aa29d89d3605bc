// Linear-memory arena shared by every kernel.
//
// Kernels never allocate: they take byte offsets (`usize`) into this module's memory, BLAS style.
// The host (shared/core/wasm.ts) carves buffers out of an arena with `arenaAlloc`, grows memory on
// demand, and releases everything above a mark with `arenaReset(mark)`. Buffers are 16-byte
// aligned so that v128 loads and stores are aligned.

const ALIGN: usize = 16;

let top: usize = (__heap_base + ALIGN - 1) & ~(ALIGN - 1);

/** Returns the offset of `bytes` fresh bytes, 16-byte aligned, growing memory when needed. */
export function arenaAlloc(bytes: usize): usize {
  const start = top;
  const end = (start + bytes + ALIGN - 1) & ~(ALIGN - 1);
  const have = <usize>memory.size() << 16;
  if (end > have) {
    const pages = <i32>((end - have + 0xffff) >> 16);
    if (memory.grow(pages) < 0) return 0; // out of memory: the host checks for 0
  }
  top = end;
  return start;
}

/** The current top of the arena: pass it to `arenaReset` to free everything allocated after. */
export function arenaMark(): usize {
  return top;
}

/** Frees everything allocated after `mark`. */
export function arenaReset(mark: usize): void {
  top = mark;
}
