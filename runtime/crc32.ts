// CRC-32 (ISO-HDLC, as zip and gzip use it), portable (no node: module, so the browser bundles
// share it) and fast enough for checkpoints of hundreds of megabytes: slicing by 8, eight
// 256-entry tables, eight bytes per step.

/** table[k * 256 + b]: the CRC of byte b followed by k zero bytes. */
const table = (() => {
  const t = new Int32Array(8 * 256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[b] = c;
  }
  for (let b = 0; b < 256; b++)
    for (let k = 1; k < 8; k++) {
      const c = t[(k - 1) * 256 + b]!;
      t[k * 256 + b] = t[c & 255]! ^ (c >>> 8);
    }
  return t;
})();

/** The CRC-32 of `bytes`, continuing from `crc` (the CRC of what came before), as an unsigned number. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const t = table;
  let c = ~crc;
  const n = bytes.length;
  const end8 = n - (n & 7);
  let i = 0;
  for (; i < end8; i += 8) {
    const lo =
      c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    c =
      t[1792 + (lo & 255)]! ^
      t[1536 + ((lo >>> 8) & 255)]! ^
      t[1280 + ((lo >>> 16) & 255)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
  }
  for (; i < n; i++) c = t[(c ^ bytes[i]!) & 255]! ^ (c >>> 8);
  return ~c >>> 0;
}
