// Hostile weight files (issue 11): zip bombs, lying zip directories and pickles, absurd
// safetensors headers. Each must end in a clear error (or, for an unreferenced bomb, a normal
// import) in bounded time and memory: exit 1, no internal error or stack trace, peak RSS under
// 1.5 GB, output under 100 KB. The files are built here; the largest is a few megabytes. And
// a checkpoint damaged inside its entries, its zip structure intact, fails its CRC-32 check.
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { crc32, deflateRawSync } from "node:zlib";
import * as path from "node:path";
import { unzipSync } from "fflate";
import { describe, expect, it } from "vitest";
import { readCheckpoint } from "../runtime/checkpoint.js";
import { crc32 as portableCrc32 } from "../runtime/crc32.js";
import { CsncError, RuntimeCodes } from "../runtime/errors.js";
import { loadWeights } from "../runtime/load-weights.js";
import { readSafetensors } from "../runtime/safetensors.js";
import { csncRunner, refusal } from "./csnc-process.js";
import { fixturesDir } from "./fixtures.js";
import {
  concat,
  flipped,
  locate,
  pickle,
  safetensors,
  tensor,
  zeroDeflate,
  zip,
  type Py,
  type ZipEntry,
} from "./hostile-weights-files.js";

const work = mkdtempSync(path.join(tmpdir(), "csnc-hostile-"));
const GiB = 2 ** 30;
const MiB = 2 ** 20;

const csnc = csncRunner(60_000);

const model = ["--model", "models/ir-csn-50.csn", "--set", "width=8", "--set", "classes=10"];
const importFile = (file: string) =>
  csnc("import", file, ...model, "-o", path.join(work, "o.safetensors"));
const runFile = (file: string) =>
  csnc(
    "run",
    "models/ir-csn-50.csn",
    "--set",
    "width=8",
    "--set",
    "classes=10",
    "--weights",
    file,
    "--backend",
    "opengles",
  );

function expectBounded(r: ReturnType<typeof csnc>, code: number) {
  expect(r.output).not.toMatch(/internal error/);
  expect(r.output).not.toMatch(/\n\s+at /);
  expect(r.output.length).toBeLessThan(100_000);
  expect(r.rssBytes).toBeLessThan(1.5e9);
  expect(r.seconds).toBeLessThan(30);
  expect(r.code, r.output).toBe(code);
}

const write = (name: string, bytes: Uint8Array) => {
  const file = path.join(work, name);
  writeFileSync(file, bytes);
  return file;
};

// A real checkpoint, entry by entry, to tamper with.
const dir = "mmaction2-ir-csn-50-w8";
const original = new Uint8Array(readFileSync(path.join(fixturesDir, "checkpoints", `${dir}.pth`)));
const fixture = unzipSync(original) as Record<string, Uint8Array>;
const base: ZipEntry[] = Object.entries(fixture).map(([name, data]) => ({ name, data }));
const replaced = (name: string, entry: Omit<ZipEntry, "name">) =>
  base.map((e) => (e.name === `${dir}/${name}` ? { ...entry, name: e.name } : e));
const storage0 = fixture[`${dir}/data/0`]!.length;
const pklSize = fixture[`${dir}/data.pkl`]!.length;
const bomb = (n: number, size = n): Omit<ZipEntry, "name"> => ({
  data: zeroDeflate(n),
  method: 8,
  size,
});

// Flipped bits, the zip structure intact: in storage 0 as torch.save stored it (with a signed
// data descriptor), and in a deflated storage 0 whose stream inflates cleanly to them.
const hex = (crc: number) => `0x${(crc >>> 0).toString(16).padStart(8, "0")}`;
const storage0Bytes = fixture[`${dir}/data/0`]!;
const crc0 = crc32(storage0Bytes);
const at0 = locate(original, `${dir}/data/0`);
const middle = (at0.start + at0.end) >> 1;
const damagedStored = () => flipped(original, middle, middle + 1, middle + 7);
const damagedBytes = flipped(storage0Bytes, storage0 >> 1);
const damagedDeflated = () =>
  zip(
    replaced("data/0", {
      data: deflateRawSync(damagedBytes),
      method: 8,
      size: storage0,
      crc: crc0,
    }),
  );
const crcMismatch = (entry: string, recorded: number, what: string, crc: number) =>
  `zip entry '${dir}/${entry}' has a CRC-32 mismatch (the zip directory records ${hex(recorded)}, ${what} ${hex(crc)}): the file is damaged (download or save it again)`;
const damagedStoredMessage = crcMismatch(
  "data/0",
  crc0,
  "its data gives",
  crc32(damagedStored().subarray(at0.start, at0.end)),
);
const damagedDeflatedMessage = crcMismatch("data/0", crc0, "its data gives", crc32(damagedBytes));
const literally = (text: string) => new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));

/** A zip checkpoint of one state dict, storages stored as given. */
function checkpoint(dict: readonly (readonly [Py, Py])[], storages: Record<string, Uint8Array>) {
  return zip([
    { name: "archive/data.pkl", data: pickle({ dict }) },
    ...Object.entries(storages).map(([key, data]) => ({ name: `archive/data/${key}`, data })),
    { name: "archive/version", data: new TextEncoder().encode("3\n") },
  ]);
}

/** A legacy (pre-1.6) torch.save file: five pickles, then each storage's count and bytes. */
function legacy(dict: readonly (readonly [Py, Py])[], storages: [string, bigint, Uint8Array][]) {
  const count = (n: bigint) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, n, true);
    return b;
  };
  return concat([
    pickle(BigInt("119547037146038801333356")),
    pickle(1001),
    pickle({ dict: [["little_endian", true]] }),
    pickle({ dict }),
    pickle(storages.map(([k]) => k)),
    ...storages.flatMap(([, n, data]) => [count(n), data]),
  ]);
}

const floats = (n: number) => new Uint8Array(4 * n);

const load = (bytes: Uint8Array, name = "x.pth") => refusal(() => loadWeights(bytes, name, "auto"));

describe("hostile weight files through the CLI", () => {
  it("an unreferenced 3 GiB zero entry (3 MB on disk) is never inflated: the import succeeds", () => {
    const file = write(
      "unreferenced-3g.pth",
      zip([{ name: `${dir}/junk`, ...bomb(3 * GiB) }, ...base]),
    );
    expect(statSync(file).size).toBeLessThan(5 * MiB);
    const r = importFile(file);
    expectBounded(r, 0);
    expect(r.output).toMatch(/pytorch-zip, mmaction2 names/);
    expect(r.rssBytes).toBeLessThan(400 * MiB);
  });

  const cases: [string, () => Uint8Array, RegExp][] = [
    [
      "a referenced storage whose entry inflates to 1 GiB past its declared size",
      () => zip(replaced("data/0", bomb(GiB, storage0))),
      new RegExp(
        `zip entry '${dir}/data/0' inflates beyond the ${storage0} bytes its zip directory declares; refused as a zip bomb`,
      ),
    ],
    [
      "a storage whose zip directory declares 3 GiB against the pickle's size",
      () => zip(replaced("data/0", bomb(3 * GiB))),
      new RegExp(
        `zip entry '${dir}/data/0' holds ${3 * GiB} bytes but the pickle declares storage 0 as ${storage0 / 4} F32 elements \\(${storage0} bytes\\)`,
      ),
    ],
    [
      "a storage claiming a ratio deflate cannot reach",
      () => zip(replaced("data/0", { data: new Uint8Array(4), method: 8, size: storage0 })),
      new RegExp(
        `zip entry '${dir}/data/0' claims to inflate 4 bytes to ${storage0}, more than deflate can`,
      ),
    ],
    [
      "a data.pkl declaring 100 MiB",
      () => zip(replaced("data.pkl", bomb(100 * MiB))),
      new RegExp(
        `zip entry '${dir}/data.pkl' declares ${100 * MiB} bytes; csnc reads a checkpoint's pickle only up to 64 MiB`,
      ),
    ],
    [
      "a data.pkl inflating to 1 GiB past its declared size",
      () => zip(replaced("data.pkl", bomb(GiB, pklSize))),
      new RegExp(`zip entry '${dir}/data.pkl' inflates beyond the ${pklSize} bytes`),
    ],
    [
      "a pickle of 5 million empty dicts",
      () => {
        const flood = new Uint8Array(5_000_003).fill(0x7d);
        flood.set([0x80, 2]);
        flood[flood.length - 1] = 0x2e;
        return zip([{ name: "archive/data.pkl", data: flood }]);
      },
      /cannot read the checkpoint's pickle: it builds more than 4000000 values/,
    ],
    [
      "a stride-0 tensor of 2^30 elements over a 1-element storage",
      () =>
        checkpoint([["conv1.weight", tensor("0", 1, [1024, 1024, 1024], [0, 0, 0])]], {
          0: floats(1),
        }),
      /refused: tensor 'conv1.weight' \(1024x1024x1024\) would take the unpacked tensors past 512 MiB/,
    ],
    [
      "2000 tensors over one 1 MiB storage",
      () =>
        checkpoint(
          Array.from({ length: 2000 }, (_, i) => [`t${i}`, tensor("0", MiB / 4, [MiB / 4], [1])]),
          { 0: floats(MiB / 4) },
        ),
      /refused: tensor 't\d+' \(262144\) would take the unpacked tensors past 512 MiB, more than a checkpoint of [\d.]+ MiB can honestly hold/,
    ],
    [
      "a safetensors header length of 100 MB",
      () => safetensors('{"a":{}}', new Uint8Array(64), 100_000_000n),
      /not a valid safetensors file: safetensors header length 100000000 exceeds the file size \(80 bytes/,
    ],
    [
      "a safetensors header length of 2^64-1",
      () => safetensors('{"a":{}}', new Uint8Array(64), 2n ** 64n - 1n),
      /not a valid safetensors file: safetensors header length 18446744073709551615 exceeds the file size \(80 bytes/,
    ],
    [
      "a real checkpoint with flipped bits in a stored storage, its zip structure intact",
      damagedStored,
      literally(damagedStoredMessage),
    ],
    [
      "a deflated storage whose stream inflates to flipped bits",
      damagedDeflated,
      literally(damagedDeflatedMessage),
    ],
  ];
  const fileFor = ([what, make]: (typeof cases)[number]) => {
    const file = path.join(work, `${what.replace(/\W+/g, "-")}.pth`);
    if (!existsSync(file)) writeFileSync(file, make());
    return file;
  };
  for (const c of cases) {
    const [what, , message] = c;
    it(`${what}: import refuses it, naming the file`, () => {
      const file = fileFor(c);
      const r = importFile(file);
      expectBounded(r, 1);
      expect(r.output).toMatch(message);
      expect(r.output).toContain(file);
    });
  }

  for (const c of [cases[0]!, cases[3]!, cases[6]!, cases[9]!, cases[10]!, cases[11]!])
    it(`${c[0]}: csnc run --weights refuses it the same way`, () => {
      const r = runFile(fileFor(c));
      expectBounded(r, 1);
      expect(r.output).toMatch(c[2]);
    });
});

describe("zip and pickle checks", () => {
  it("refuses lying zip directories by entry", () => {
    const stored = (size: number) => zip(replaced("data/0", { data: floats(storage0 / 4), size }));
    expect(load(stored(storage0 + 4))).toMatch(
      `zip entry '${dir}/data/0' holds ${storage0 + 4} bytes but the pickle declares`,
    );
    const lying = zip(
      replaced("data/0", { data: floats(storage0 / 4), compressedSize: storage0 + 4 }),
    );
    expect(load(lying)).toMatch(
      new RegExp(`zip entry '${dir}/data/0' is stored uncompressed, yet its zip directory gives`),
    );
    const far = zip(replaced("data/0", { data: floats(storage0 / 4), compressedSize: 2 ** 31 }));
    expect(load(far)).toMatch(
      /claims 2147483648 bytes from offset \d+, beyond the end of the file/,
    );
    const short = zip(replaced("data/0", bomb(storage0 - 4, storage0)));
    expect(load(short)).toMatch(
      `zip entry '${dir}/data/0' inflates to ${storage0 - 4} bytes, not the ${storage0}`,
    );
    const junk = new Uint8Array(256).fill(0xff);
    const garbage = zip(replaced("data/0", { data: junk, method: 8, size: storage0 }));
    expect(load(garbage)).toMatch(
      `zip entry '${dir}/data/0' is not valid deflate data (invalid block type)`,
    );
    const method = zip(replaced("data/0", { data: floats(storage0 / 4), method: 12 as 8 }));
    expect(load(method)).toMatch(`uses compression method 12`);
    const missing = zip(base.filter((e) => e.name !== `${dir}/data/0`));
    expect(load(missing)).toMatch(`zip entry '${dir}/data/0' is missing from the archive`);
    const twice = zip([...base, { name: `${dir}/data/0`, data: floats(storage0 / 4) }]);
    expect(load(twice)).toMatch(`zip entry '${dir}/data/0' appears twice`);
    const big = zip([...base, { name: `${dir}/byteorder`, data: new TextEncoder().encode("big") }]);
    expect(load(big)).toMatch(/saved big-endian/);
    const cut = zip(base).subarray(0, 1000);
    expect(load(cut)).toMatch(/a damaged zip archive \(no end-of-central-directory record\)/);
  });

  it("checks the CRC-32 of each entry it reads, stored or inflated, and only those", () => {
    expect(readCheckpoint(original, "ok.pth").tensors.size).toBe(320);
    expect(load(damagedStored(), "w.pth")).toBe(`w.pth: ${damagedStoredMessage}`);
    expect(load(damagedDeflated(), "w.pth")).toBe(`w.pth: ${damagedDeflatedMessage}`);
    const error = (() => {
      try {
        readCheckpoint(damagedStored(), "w.pth");
      } catch (e) {
        return e as CsncError;
      }
    })();
    expect(error).toBeInstanceOf(CsncError);
    expect(error?.code).toBe(RuntimeCodes.badFile);
    // data.pkl is checked as a storage is.
    const pkl = locate(original, `${dir}/data.pkl`);
    const pklCrc = crc32(fixture[`${dir}/data.pkl`]!);
    const badPkl = flipped(original, pkl.end - 2);
    expect(load(badPkl)).toMatch(
      crcMismatch("data.pkl", pklCrc, "its data gives", crc32(badPkl.subarray(pkl.start, pkl.end))),
    );
    // The directory's CRC-32 damaged, and the data descriptor's (signed, as torch.save writes).
    expect(load(flipped(original, at0.directory + 16))).toMatch(
      crcMismatch("data/0", crc0 ^ 0x5a, "its data gives", crc0),
    );
    expect(original.subarray(at0.end, at0.end + 4)).toEqual(Uint8Array.of(0x50, 0x4b, 7, 8));
    expect(load(flipped(original, at0.end + 4))).toMatch(
      crcMismatch("data/0", crc0, "its data descriptor", crc0 ^ 0x5a),
    );
    // Unsigned data descriptors, and local headers without one.
    const unsigned = zip(base.map((e) => ({ ...e, descriptor: "unsigned" as const })));
    expect(readCheckpoint(unsigned, "u.pth").tensors.size).toBe(320);
    const data = storage0Bytes;
    const lying = (descriptor?: "unsigned") =>
      zip(replaced("data/0", { data, localCrc: crc0 ^ 1, ...(descriptor && { descriptor }) }));
    expect(load(lying("unsigned"))).toMatch(
      crcMismatch("data/0", crc0, "its data descriptor", crc0 ^ 1),
    );
    expect(load(lying())).toMatch(crcMismatch("data/0", crc0, "its local header", crc0 ^ 1));
    // Saved without CRC-32s (torch.serialization.set_crc32_options(False)): every field 0,
    // as torch.load accepts.
    const noCrc = zip(base.map((e) => ({ ...e, crc: 0, localCrc: 0 })));
    expect(readCheckpoint(noCrc, "n.pth").tensors.size).toBe(320);
    // An entry never read is never checked: csnc reads no 'version'.
    const version = locate(original, `${dir}/version`);
    expect(readCheckpoint(flipped(original, version.start), "v.pth").tensors.size).toBe(320);
  });

  it("computes CRC-32 as zlib does, at every length and alignment, and continued", () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 2654435761) >>> 24);
    for (let start = 0; start < 8; start++)
      for (let n = 0; start + n <= bytes.length; n += n < 40 ? 1 : 37) {
        const s = bytes.subarray(start, start + n);
        expect(portableCrc32(s), `${start}+${n}`).toBe(crc32(s));
      }
    expect(portableCrc32(bytes.subarray(123), portableCrc32(bytes.subarray(0, 123)))).toBe(
      crc32(bytes),
    );
    expect(portableCrc32(storage0Bytes)).toBe(crc0);
  });

  it("reads a deflated copy of a checkpoint as the stored one", () => {
    const deflated = zip(
      base.map((e) => ({
        ...e,
        data: deflateRawSync(e.data),
        method: 8,
        size: e.data.length,
        crc: crc32(e.data),
      })),
    );
    const a = readCheckpoint(zip(base), "a.pth").tensors;
    const b = readCheckpoint(deflated, "b.pth").tensors;
    expect([...b.keys()]).toEqual([...a.keys()]);
    const same = (x?: Float32Array, y?: Float32Array) =>
      x === y || (!!x && !!y && x.length === y.length && x.every((v, i) => v === y[i]));
    for (const [k, t] of a) expect(same(b.get(k)!.data, t.data), k).toBe(true);
  });

  it("reads a zip64 archive and skips its 8 GiB unreferenced entry", () => {
    const z = zip([{ name: `${dir}/junk`, ...bomb(8 * GiB) }, ...base]);
    expect(readCheckpoint(z, "z.pth").tensors.size).toBe(320);
  });

  it("refuses malformed tensors and persistent ids in the pickle", () => {
    const one = (t: Py) => checkpoint([["conv1.weight", t]], { 0: floats(8) });
    expect(load(one(tensor("0", 8, [4, 4], [4, 1])))).toMatch(
      /tensor 'conv1.weight' \(shape 4x4, strides 4,1, offset 0\) reaches beyond its storage 0 of 8 elements/,
    );
    expect(load(one(tensor("0", 8, [2.5], [1])))).toMatch(/a tensor with the shape \(2.5\)/);
    expect(load(one(tensor("0", 8, [(2n ** 70n) as unknown as number], [1])))).toMatch(
      /a tensor with the shape \(1180591620717411303424\)/,
    );
    expect(load(one(tensor("0", 8, [2, 4], [1])))).toMatch(/with the strides \(1\)/);
    expect(load(one(tensor("0", 2n ** 70n, [8], [1])))).toMatch(
      /storage "0" with 1180591620717411303424 elements/,
    );
    expect(load(one(tensor("0", 8, [8], [1], "storage.UntypedStorage")))).toMatch(
      /an unknown storage type storage.UntypedStorage/,
    );
    expect(
      load(one({ call: [{ global: "torch._utils._rebuild_tensor_v2" }, 7 as never] })),
    ).toMatch(/torch._utils._rebuild_tensor_v2 is called with 7, not a tuple/);
    const twice = checkpoint(
      [
        ["a", tensor("0", 8, [8], [1])],
        ["b", tensor("0", 4, [4], [1])],
      ],
      { 0: floats(8) },
    );
    expect(load(twice)).toMatch(/storage 0 is described twice: 8 F32 and 4 F32 elements/);
    // A million-item APPENDS: a spread would overflow the call stack.
    const appends = new Uint8Array(4 + 2_000_000 + 2);
    appends.set([0x80, 2, 0x5d, 0x28], 0);
    for (let i = 0; i < 1_000_000; i++) appends.set([0x4b, 0], 4 + 2 * i);
    appends.set([0x65, 0x2e], appends.length - 2);
    const list = refusal(() =>
      readCheckpoint(zip([{ name: "a/data.pkl", data: appends }]), "l.pth"),
    );
    expect(list).toMatch(/l.pth: the checkpoint holds no dictionary of tensors/);
  });

  it("refuses lying legacy checkpoints", () => {
    const dict: [Py, Py][] = [["conv1.weight", tensor("0", 8, [8], [1])]];
    expect(readCheckpoint(legacy(dict, [["0", 8n, floats(8)]]), "l.pth").tensors.size).toBe(1);
    expect(load(legacy(dict, [["0", 9n, floats(8)]]))).toMatch(
      /storage 0 holds 9 elements but the pickle declares 8/,
    );
    expect(load(legacy(dict, [["0", -1n, floats(8)]]))).toMatch(/holds -1 elements/);
    const huge: [Py, Py][] = [["conv1.weight", tensor("0", 2 ** 50, [8], [1])]];
    expect(load(legacy(huge, [["0", 2n ** 50n, floats(8)]]))).toMatch(
      /storage 0 \(4503599627370496 bytes at offset \d+\) is cut short by the end of the file/,
    );
    expect(load(legacy(dict, [["1", 8n, floats(8)]]))).toMatch(
      /storage 1 is listed but the pickle never describes it/,
    );
  });
});

describe("safetensors header checks", () => {
  const header = (h: object, data = new Uint8Array(16)) => safetensors(JSON.stringify(h), data);
  const refused = (bytes: Uint8Array) => refusal(() => readSafetensors(bytes, "s.safetensors"));
  const t = (dtype: string, shape: unknown, offsets: unknown) => ({
    dtype,
    shape,
    data_offsets: offsets,
  });

  it("names what is wrong with each field", () => {
    expect(refused(header({ a: t("F32", [2], [0, 8]), b: t("F32", [2], [4, 12]) }))).toMatch(
      /tensors 'a' \(bytes 0..8\) and 'b' \(bytes 4..12\) overlap/,
    );
    expect(refused(header({ a: t("F32", [8], [0, 32]) }))).toMatch(
      /tensor 'a' lies outside the data \(bytes 0..32 of 16/,
    );
    expect(refused(header({ a: t("F32", [2], [8, 4]) }))).toMatch(/end before they begin/);
    expect(refused(header({ a: t("F32", [2], [0, -8]) }))).toMatch(/invalid data_offsets \[0,-8\]/);
    expect(refused(header({ a: t("Q4", [2], [0, 8]) }))).toMatch(/unsupported dtype "Q4"/);
    expect(refused(header({ a: t("F32", [3], [0, 8]) }))).toMatch(
      /tensor 'a' \(F32 3\) needs 12 bytes but has 8/,
    );
    expect(refused(header({ a: t("F32", [1.5], [0, 8]) }))).toMatch(
      /invalid shape \[1.5\]: 1.5 is not a non-negative integer/,
    );
    expect(refused(header({ a: t("F32", [-2], [0, 8]) }))).toMatch(/-2 is not a non-negative/);
    const huge = 2 ** 53 - 1;
    expect(refused(header({ a: t("F32", [huge, huge, 0.5e1], [0, 8]) }))).toMatch(
      `needs ${(2n ** 53n - 1n) ** 2n * 20n} bytes but has 8`,
    );
    expect(refused(header({ a: t("F32", [huge, 4], [0, 8]) }))).toMatch(/but has 8/);
    expect(refused(header({ a: { dtype: "F32" } }))).toMatch(/invalid shape undefined/);
    expect(refused(header({ a: 5 }))).toMatch(/tensor 'a' has no description \(5\)/);
    expect(refused(header({ __metadata__: { a: 1 } }))).toMatch(/__metadata__ is not a map/);
    expect(refused(safetensors("[1]"))).toMatch(/does not begin with '\{'/);
    expect(refused(safetensors("{1}"))).toMatch(/the header is not JSON/);
    expect(refused(safetensors(`{"a":[${"0,".repeat(4_000_001)}0]}`))).toMatch(
      /more than 4000000 JSON values/,
    );
    expect(refused(new Uint8Array(5))).toMatch(/fewer than the 8-byte header length/);
  });

  it("reports a damaged .safetensors file as safetensors, and bad csnc metadata", () => {
    const noBrace = safetensors(' {"a":1}');
    expect(refusal(() => readCheckpoint(noBrace, "w.safetensors"))).toMatch(
      /w.safetensors: not a valid safetensors file: the header does not begin with '\{' \(byte 8 is 0x20\)/,
    );
    const meta = (m: Record<string, string>) => header({ __metadata__: m }, new Uint8Array(0));
    expect(load(meta({ csnc_naming: "other" }))).toMatch(/metadata names the scheme "other"/);
    expect(load(meta({ csnc_naming: "csnc", bn_eps: "x" }))).toMatch(/BN epsilon "x"/);
    expect(load(meta({ csnc_naming: "csnc", model_parameters: "{{" }))).toMatch(
      /model_parameters is not a record of model parameters/,
    );
  });
});
