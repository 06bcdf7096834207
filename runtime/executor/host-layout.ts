// Host-side layout transforms between the channels-first tensors users hold and the
// channels-last ones kernels read and write.

/** Channels-first N x C x (T*H*W) -> channels-last N x (T*H*W) x C. */
export function toChannelsLast(
  x: Float32Array,
  shape: readonly number[],
  out: Float32Array = new Float32Array(x.length),
): Float32Array {
  const [n, c, t, h, w] = shape as [number, number, number, number, number];
  const p = t * h * w;
  for (let i = 0; i < n; i++)
    for (let ch = 0; ch < c; ch++)
      for (let j = 0; j < p; j++) out[(i * p + j) * c + ch] = x[(i * c + ch) * p + j]!;
  return out;
}

/** Channels-last N x (T*H*W) x C -> channels-first N x C x (T*H*W). */
export function toChannelsFirst(x: Float32Array, shape: readonly number[]): Float32Array {
  const [n, c] = shape as [number, number];
  const p = x.length / (n * c);
  if (p === 1) return x;
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < p; j++)
      for (let ch = 0; ch < c; ch++) out[(i * c + ch) * p + j] = x[(i * p + j) * c + ch]!;
  return out;
}
