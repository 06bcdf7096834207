// Seeded pseudo-random numbers, written once for every place csnc draws them: random weights,
// training's initial weights, batch orders, synthetic clips and augmentation.

/** Uniform numbers in [0, 1) from mulberry32: small, fast and well mixed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal numbers by Box-Muller over a 32-bit LCG started at `state` (0 becomes 1). */
export function normals(state: number): () => number {
  let s = state >>> 0 || 1;
  const uniform = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}
