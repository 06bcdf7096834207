// Builders for hostile weight files, made at test time so no large binary is committed: zip
// archives with any sizes declared, deflate streams of N zero bytes in N/1032 bytes, PyTorch
// pickles and safetensors headers.
import { crc32 } from "node:zlib";

/** Little-endian bit writer, as deflate packs its bits. */
class Bits {
  bytes: Uint8Array;
  at = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }
  /** A number, least significant bit first. */
  put(value: number, n: number) {
    for (let i = 0; i < n; i++, this.at++)
      if ((value >> i) & 1) this.bytes[this.at >> 3]! |= 1 << (this.at & 7);
  }
  /** A Huffman code, most significant bit first. */
  code(code: number, n: number) {
    for (let i = n - 1; i >= 0; i--) this.put((code >> i) & 1, 1);
  }
}

/**
 * A raw deflate stream of `n` zero bytes: one dynamic block whose code for "length 258, distance
 * 1" is two zero bits, so the body is zero bytes and costs nothing to build (n / 1032 bytes).
 */
export function zeroDeflate(n: number): Uint8Array {
  const matches = n > 0 ? Math.floor((n - 1) / 258) : 0;
  const literals = n > 0 ? n - 1 - 258 * matches : 0;
  const bits = new Bits(Math.ceil((200 + 2 * (n > 0 ? 1 : 0) + 2 * matches + 2 * literals) / 8));
  bits.put(1, 1); // BFINAL
  bits.put(2, 2); // dynamic Huffman
  bits.put(286 - 257, 5);
  bits.put(2 - 1, 5);
  // Code-length code: 18 -> "0", 1 -> "10", 2 -> "11". Header order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1.
  const order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1];
  bits.put(order.length - 4, 4);
  const clLength: Record<number, number> = { 18: 1, 1: 2, 2: 2 };
  for (const s of order) bits.put(clLength[s] ?? 0, 3);
  const zeros = (count: number) => {
    while (count > 0) {
      const run = Math.min(138, count);
      bits.code(0, 1);
      bits.put(run - 11, 7);
      count -= run;
    }
  };
  // Literal/length lengths: 0 -> 2, 256 -> 2, 285 -> 1; distances 0 and 1 -> 1.
  bits.code(3, 2);
  zeros(255);
  bits.code(3, 2);
  zeros(28);
  bits.code(2, 2);
  bits.code(2, 2);
  bits.code(2, 2);
  // Codes: 285 -> "0", literal 0 -> "10", end of block -> "11"; distance 0 -> "0".
  if (n > 0) bits.code(2, 2);
  bits.at += 2 * matches; // each match is "0" "0": the buffer is already zero
  for (let i = 0; i < literals; i++) bits.code(2, 2);
  bits.code(3, 2);
  return bits.bytes;
}

export interface ZipEntry {
  readonly name: string;
  /** Stored bytes, or with `method: 8` the raw deflate stream. */
  readonly data: Uint8Array;
  readonly method?: 0 | 8;
  /** The uncompressed size the directory declares (default: the stored length). */
  readonly size?: number;
  /** The compressed size the directory declares (default: the data's length). */
  readonly compressedSize?: number;
  /**
   * The CRC-32 the directory declares (default: the stored bytes', or for a deflated entry 0:
   * give the inflated bytes' CRC-32 where the entry is to be read).
   */
  readonly crc?: number;
  /** The CRC-32 the local header declares, where it differs from the directory's. */
  readonly localCrc?: number;
  /**
   * General-purpose flag 3: the local header's CRC-32 and sizes are 0, and a data descriptor
   * after the data gives them, with its signature or without.
   */
  readonly descriptor?: "signed" | "unsigned";
}

/** A zip archive, zip64 where a size needs it, holding exactly the sizes it is told. */
export function zip(entries: readonly ZipEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const enc = new TextEncoder();
  for (const e of entries) {
    const name = enc.encode(e.name);
    const size = e.size ?? e.data.length;
    const csize = e.compressedSize ?? e.data.length;
    const big = size >= 0xffffffff || csize >= 0xffffffff || offset >= 0xffffffff;
    const extra = new Uint8Array(big ? 28 : 0);
    const ev = new DataView(extra.buffer);
    if (big) {
      ev.setUint16(0, 1, true);
      ev.setUint16(2, 24, true);
      ev.setBigUint64(4, BigInt(size), true);
      ev.setBigUint64(12, BigInt(csize), true);
      ev.setBigUint64(20, BigInt(offset), true);
    }
    const crc = e.crc ?? (e.method === 8 ? 0 : crc32(e.data));
    // The fields a local header and a directory entry share, from "version needed" on: the
    // directory's stand 2 bytes later, after its "version made by".
    const shared = (v: DataView, at: number, local = false) => {
      const later = local && e.descriptor !== undefined;
      v.setUint16(at, big ? 45 : 20, true);
      v.setUint16(at + 2, e.descriptor ? 8 : 0, true);
      v.setUint16(at + 4, e.method ?? 0, true);
      v.setUint32(at + 10, later ? 0 : local ? (e.localCrc ?? crc) : crc, true);
      v.setUint32(at + 14, later ? 0 : big ? 0xffffffff : csize, true);
      v.setUint32(at + 18, later ? 0 : big ? 0xffffffff : size, true);
      v.setUint16(at + 22, name.length, true);
      v.setUint16(at + 24, extra.length, true);
    };
    const local = new Uint8Array(30 + name.length + extra.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    shared(lv, 4, true);
    local.set(name, 30);
    local.set(extra, 30 + name.length);
    const dir = new Uint8Array(46 + name.length + extra.length);
    const dv = new DataView(dir.buffer);
    dv.setUint32(0, 0x02014b50, true);
    dv.setUint16(4, big ? 45 : 20, true);
    shared(dv, 6);
    dv.setUint32(42, big ? 0xffffffff : offset, true);
    dir.set(name, 46);
    dir.set(extra, 46 + name.length);
    // The descriptor: signature, CRC-32, then the sizes, 8 bytes each in a zip64 entry.
    const descriptor = new Uint8Array(
      e.descriptor ? (e.descriptor === "signed" ? 4 : 0) + 4 + (big ? 16 : 8) : 0,
    );
    if (e.descriptor) {
      const d = new DataView(descriptor.buffer);
      let at = 0;
      if (e.descriptor === "signed") d.setUint32((at += 4) - 4, 0x08074b50, true);
      d.setUint32((at += 4) - 4, e.localCrc ?? crc, true);
      if (big) {
        d.setBigUint64(at, BigInt(csize), true);
        d.setBigUint64(at + 8, BigInt(size), true);
      } else {
        d.setUint32(at, csize, true);
        d.setUint32(at + 4, size, true);
      }
    }
    parts.push(local, e.data, descriptor);
    central.push(dir);
    offset += local.length + e.data.length + descriptor.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const end = new Uint8Array(22);
  const v = new DataView(end.buffer);
  v.setUint32(0, 0x06054b50, true);
  v.setUint16(8, entries.length, true);
  v.setUint16(10, entries.length, true);
  v.setUint32(12, cdSize, true);
  v.setUint32(16, offset, true);
  return concat([...parts, ...central, end]);
}

/**
 * Where a (non-zip64) archive keeps an entry: its directory record, its local header and its
 * data, found through the end-of-central-directory record, to tamper with in place.
 */
export function locate(bytes: Uint8Array, name: string) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = bytes.length - 22;
  while (v.getUint32(eocd, true) !== 0x06054b50) eocd--;
  const dec = new TextDecoder();
  for (let at = v.getUint32(eocd + 16, true); v.getUint32(at, true) === 0x02014b50;) {
    const n = v.getUint16(at + 28, true);
    const next = at + 46 + n + v.getUint16(at + 30, true) + v.getUint16(at + 32, true);
    if (dec.decode(bytes.subarray(at + 46, at + 46 + n)) === name) {
      const header = v.getUint32(at + 42, true);
      const start = header + 30 + v.getUint16(header + 26, true) + v.getUint16(header + 28, true);
      return { directory: at, header, start, end: start + v.getUint32(at + 20, true) };
    }
    at = next;
  }
  throw new Error(`no entry ${name}`);
}

/** A copy of `bytes` with the byte at each offset XORed with 0x5a. */
export function flipped(bytes: Uint8Array, ...offsets: number[]): Uint8Array {
  const out = bytes.slice();
  for (const at of offsets) out[at]! ^= 0x5a;
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Python values as a pickle spells them: tuples are arrays, dicts carry their items. */
export type Py =
  | null
  | boolean
  | number
  | bigint
  | string
  | readonly Py[]
  | { readonly dict: readonly (readonly [Py, Py])[] }
  | { readonly global: string }
  | { readonly call: readonly [Py, readonly Py[]] }
  | { readonly persistent: Py };

const isList = (v: Py): v is readonly Py[] => Array.isArray(v);

/** Protocol-2 pickle of a value, with the opcodes torch.save uses. */
export function pickle(value: Py): Uint8Array {
  const out: number[] = [0x80, 2];
  const enc = new TextEncoder();
  const u32 = (n: number) => out.push(n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255);
  const write = (v: Py): void => {
    if (v === null) out.push(0x4e);
    else if (v === true) out.push(0x88);
    else if (v === false) out.push(0x89);
    else if (typeof v === "number" && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) {
      out.push(0x4a);
      u32(v);
    } else if (typeof v === "number" && !Number.isInteger(v)) {
      const b = new DataView(new ArrayBuffer(8));
      b.setFloat64(0, v, false);
      out.push(0x47, ...new Uint8Array(b.buffer));
    } else if (typeof v === "number" || typeof v === "bigint") {
      let b = BigInt(v);
      const bytes: number[] = [];
      do {
        bytes.push(Number(b & 255n));
        b >>= 8n;
      } while (b !== 0n && b !== -1n);
      if ((bytes.at(-1)! & 0x80) !== (b < 0n ? 0x80 : 0)) bytes.push(b < 0n ? 255 : 0);
      out.push(0x8a, bytes.length, ...bytes);
    } else if (typeof v === "string") {
      const s = enc.encode(v);
      out.push(0x58);
      u32(s.length);
      for (const c of s) out.push(c);
    } else if (isList(v)) {
      out.push(0x28);
      for (const x of v) write(x);
      out.push(0x74);
    } else if ("dict" in v) {
      out.push(0x7d, 0x28);
      for (const [k, x] of v.dict) {
        write(k);
        write(x);
      }
      out.push(0x75);
    } else if ("global" in v) {
      const dot = v.global.lastIndexOf(".");
      out.push(0x63, ...enc.encode(`${v.global.slice(0, dot)}\n${v.global.slice(dot + 1)}\n`));
    } else if ("call" in v) {
      write(v.call[0]);
      write(v.call[1]);
      out.push(0x52);
    } else {
      write(v.persistent);
      out.push(0x51);
    }
  };
  write(value);
  out.push(0x2e);
  return Uint8Array.from(out);
}

/** What `torch.save` pickles for a tensor: a view into storage `key` of `numel` elements. */
export function tensor(
  key: string,
  numel: number | bigint,
  shape: readonly number[],
  stride: readonly number[],
  storage = "FloatStorage",
  offset = 0,
): Py {
  return {
    call: [
      { global: "torch._utils._rebuild_tensor_v2" },
      [
        { persistent: ["storage", { global: `torch.${storage}` }, key, "cpu", numel] },
        offset,
        shape,
        stride,
        false,
        { call: [{ global: "collections.OrderedDict" }, []] },
      ],
    ],
  };
}

/** A safetensors file with a header given as text and `data` after it. */
export function safetensors(
  header: string,
  data = new Uint8Array(0),
  length = BigInt(new TextEncoder().encode(header).length),
) {
  const head = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length, true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}
