// The zip archives of PyTorch checkpoints, read without trusting what they declare: the
// central directory is read without inflating anything (zip64 included), and an entry is
// inflated only on request, into a buffer of the size declared, by streaming inflation that
// stops there, so a zip bomb, referenced or not, costs nothing. What an entry read holds is
// checked against its CRC-32 (the directory's, and the local header's or data descriptor's),
// so flipped bits in a tensor's bytes are a damaged file, not different predictions.
import { Inflate } from "fflate";
import type { Budget } from "./checkpoint-tensors.js";
import { crc32 } from "./crc32.js";
import { badFile as bad } from "./errors.js";
import { shown } from "./safetensors.js";

/** Deflate's best ratio (a 258-byte match in 2 bits): a directory claiming more is lying. */
const maxDeflateRatio = 1032;

interface ZipEntry {
  readonly name: string;
  readonly flags: number;
  readonly method: number;
  readonly crc: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly headerOffset: number;
}

/** The central directory, read without inflating anything; zip64 included. */
function zipDirectory(bytes: Uint8Array, file: string): Map<string, ZipEntry | "duplicate"> {
  const damaged = (why: string, truncated = false) =>
    bad(`${file}: a damaged zip archive (${why})${truncated ? "; the file may be truncated" : ""}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number, what: string) => {
    const v = view.getBigUint64(at, true);
    if (v > BigInt(bytes.length))
      throw damaged(`${what} ${v} is beyond the file's ${bytes.length} bytes`);
    return Number(v);
  };
  const u64size = (at: number) => {
    const v = view.getBigUint64(at, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);
  };
  let eocd = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 0xffff); at--)
    if (u32(at) === 0x06054b50) {
      eocd = at;
      break;
    }
  if (eocd < 0) throw damaged("no end-of-central-directory record", true);
  let count = u16(eocd + 10);
  let dirSize = u32(eocd + 12);
  let dirOffset = u32(eocd + 16);
  if (eocd >= 20 && u32(eocd - 20) === 0x07064b50) {
    const z = u64(eocd - 12, "the zip64 record offset");
    if (z + 56 > bytes.length || u32(z) !== 0x06064b50)
      throw damaged("the zip64 end-of-central-directory record is missing");
    count = u64(z + 32, "the entry count");
    dirSize = u64(z + 40, "the directory size");
    dirOffset = u64(z + 48, "the directory offset");
  }
  if (dirOffset + dirSize > bytes.length)
    throw damaged(
      `the central directory, ${dirSize} bytes at ${dirOffset}, ends beyond the file's ${bytes.length} bytes`,
      true,
    );
  if (count * 46 > dirSize)
    throw damaged(`${count} entries cannot fit in a ${dirSize}-byte central directory`);
  const names = new TextDecoder();
  const entries = new Map<string, ZipEntry | "duplicate">();
  const end = dirOffset + dirSize;
  for (let i = 0, at = dirOffset; i < count; i++) {
    if (at + 46 > end || u32(at) !== 0x02014b50)
      throw damaged(`central directory entry ${i} is malformed`);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const next = at + 46 + nameLength + extraLength + u16(at + 32);
    if (next > end) throw damaged(`central directory entry ${i} runs past the directory`);
    const name = names.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    let size = u32(at + 24);
    let compressedSize = u32(at + 20);
    let headerOffset = u32(at + 42);
    // Zip64: the 0xffffffff fields, in this order, in extra field 1. Every read stays inside the
    // entry's extra field, itself inside the directory and the file: a field whose length
    // claims more is damaged, not read past.
    const extraEnd = at + 46 + nameLength + extraLength;
    for (let x = at + 46 + nameLength; x + 4 <= extraEnd;) {
      const id = u16(x);
      const length = u16(x + 2);
      const fieldEnd = x + 4 + length;
      if (id === 1) {
        if (fieldEnd > extraEnd)
          throw damaged(
            `entry '${shown(name)}' has a zip64 field of ${length} bytes, but only ${extraEnd - x - 4} of its extra field follow`,
          );
        let p = x + 4;
        const take = (what: string) => {
          if (p + 8 > fieldEnd)
            throw damaged(`entry '${shown(name)}' has a short zip64 field (no ${what} in it)`);
          return ((p += 8), u64size(p - 8));
        };
        if (size === 0xffffffff) size = take("size");
        if (compressedSize === 0xffffffff) compressedSize = take("compressed size");
        if (headerOffset === 0xffffffff) headerOffset = take("header offset");
      }
      x = fieldEnd;
    }
    const entry = {
      name,
      flags: u16(at + 8),
      method: u16(at + 10),
      crc: u32(at + 16),
      compressedSize,
      size,
      headerOffset,
    };
    entries.set(name, entries.has(name) ? "duplicate" : entry);
    at = next;
  }
  return entries;
}

/** Inflates raw deflate data into exactly `size` bytes; refuses a stream that makes more. */
function inflateExactly(data: Uint8Array, size: number, where: string): Uint8Array {
  const out = new Uint8Array(size);
  let n = 0;
  let done = false;
  const bomb = new Error("bomb");
  const inflate = new Inflate((chunk, final) => {
    if (n + chunk.length > size) throw bomb;
    out.set(chunk, n);
    n += chunk.length;
    done ||= final;
  });
  // Small input chunks: each inflates to at most ~16 MiB before the size is checked.
  const step = 16384;
  try {
    for (let at = 0; at < data.length && !done; at += step)
      inflate.push(data.subarray(at, at + step), at + step >= data.length);
  } catch (e) {
    if (e === bomb)
      throw bad(
        `${where} inflates beyond the ${size} bytes its zip directory declares; refused as a zip bomb`,
      );
    throw bad(`${where} is not valid deflate data (${(e as Error).message})`);
  }
  if (!done || n !== size)
    throw bad(
      `${where} inflates to ${n} bytes${done ? "" : " and then stops short"}, not the ${size} its zip directory declares (truncated or damaged?)`,
    );
  return out;
}

/** What an entry is checked against before it is read, and what reading it counts. */
export interface EntryChecks {
  /** The size the pickle declares for it. */
  readonly expected?: { readonly bytes: number; readonly what: string };
  /** The most it may declare, and why. */
  readonly cap?: { readonly bytes: number; readonly what: string };
  /** Earns what a storage read earns, and takes what inflating it unpacks. */
  readonly budget?: Budget;
}

const hex = (crc: number) => `0x${crc.toString(16).padStart(8, "0")}`;

/** A zip archive's directory, read once; entries are read (and inflated) on request. */
export class ZipArchive {
  private readonly entries: Map<string, ZipEntry | "duplicate">;
  /** The entries whose CRC-32 has been checked: each is computed once, however often read. */
  private readonly checked = new Set<string>();
  constructor(
    private readonly bytes: Uint8Array,
    private readonly file: string,
  ) {
    this.entries = zipDirectory(bytes, file);
  }

  names(): IterableIterator<string> {
    return this.entries.keys();
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * An entry's bytes, after checking the directory against the local header, the file's
   * extent and `checks`, and the bytes against the entry's CRC-32.
   */
  read(name: string, { expected, cap, budget }: EntryChecks = {}): Uint8Array {
    const { bytes, entries, file } = this;
    const e = entries.get(name);
    const where = `${file}: zip entry '${shown(name)}'`;
    if (e === undefined) throw bad(`${where} is missing from the archive`);
    if (e === "duplicate") throw bad(`${where} appears twice in the zip directory`);
    if (e.flags & 1) throw bad(`${where} is encrypted`);
    if (e.method !== 0 && e.method !== 8)
      throw bad(
        `${where} uses compression method ${e.method}; csnc reads stored (0) and deflated (8) entries`,
      );
    if (expected && e.size !== expected.bytes)
      throw bad(
        `${where} holds ${e.size} bytes but the pickle declares ${expected.what} (${expected.bytes} bytes)`,
      );
    if (cap && e.size > cap.bytes) throw bad(`${where} declares ${e.size} bytes; ${cap.what}`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const h = e.headerOffset;
    if (h + 30 > bytes.length || view.getUint32(h, true) !== 0x04034b50)
      throw bad(
        `${where}: no local header at offset ${h} of ${bytes.length} bytes (truncated or damaged?)`,
      );
    const start = h + 30 + view.getUint16(h + 26, true) + view.getUint16(h + 28, true);
    if (!(start + e.compressedSize <= bytes.length))
      throw bad(
        `${where} claims ${e.compressedSize} bytes from offset ${start}, beyond the end of the file (${bytes.length} bytes; truncated?)`,
      );
    const data = bytes.subarray(start, start + e.compressedSize);
    if (e.method === 0) {
      if (e.compressedSize !== e.size)
        throw bad(
          `${where} is stored uncompressed, yet its zip directory gives ${e.compressedSize} compressed and ${e.size} uncompressed bytes`,
        );
      budget?.earn(e.size);
      return this.checkCrc(name, e, view, start + e.compressedSize, data);
    }
    if (e.size > maxDeflateRatio * e.compressedSize + 64)
      throw bad(
        `${where} claims to inflate ${e.compressedSize} bytes to ${e.size}, more than deflate can (${maxDeflateRatio} to 1); refused as a zip bomb`,
      );
    budget?.earn(e.size, e.compressedSize);
    budget?.take(e.size, `inflating zip entry '${shown(name)}'`);
    const inflated = inflateExactly(data, e.size, where);
    return this.checkCrc(name, e, view, start + e.compressedSize, inflated);
  }

  /**
   * `data`, an entry's (inflated) bytes, once its CRC-32 is the one the zip directory records,
   * and that one the local header's (or, with general-purpose flag 3, the data descriptor's at
   * `dataEnd`, signed or not).
   */
  private checkCrc(
    name: string,
    e: ZipEntry,
    view: DataView,
    dataEnd: number,
    data: Uint8Array,
  ): Uint8Array {
    // PyTorch can save without CRC-32s (torch.serialization.set_crc32_options(False)): every
    // field 0, which torch.load accepts, so does csnc. An empty entry's CRC is 0 too.
    if (this.checked.has(name) || e.crc === 0) return data;
    const where = `${this.file}: zip entry '${shown(name)}'`;
    const mismatch = (what: string, crc: number) =>
      bad(
        `${where} has a CRC-32 mismatch (the zip directory records ${hex(e.crc)}, ${what} ${hex(crc)}): the file is damaged (download or save it again)`,
      );
    const computed = crc32(data);
    if (computed !== e.crc) throw mismatch("its data gives", computed);
    const h = e.headerOffset;
    if (view.getUint16(h + 6, true) & 8) {
      // The data descriptor: CRC-32 and sizes, after a signature that writers may leave out.
      const at = (p: number) => (p + 4 <= view.byteLength ? view.getUint32(p, true) : undefined);
      const first = at(dataEnd);
      const recorded = first === 0x08074b50 && first !== e.crc ? at(dataEnd + 4) : first;
      if (recorded === undefined)
        throw bad(`${where} has no data descriptor after its data (truncated or damaged?)`);
      if (recorded !== e.crc) throw mismatch("its data descriptor", recorded);
    } else {
      const local = view.getUint32(h + 14, true);
      if (local !== e.crc) throw mismatch("its local header", local);
    }
    this.checked.add(name);
    return data;
  }
}
