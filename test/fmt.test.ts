// `csnc fmt`: the shipped models are in the canonical layout, the layout does not depend on the
// spacing it starts from, every comment survives, formatting twice changes nothing, and the
// numbers never change: `csnc stats --json` is the same before and after, over every shipped
// model and every valid file of the mutation corpus.
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { formatSource } from "../grammar/format.js";
import { run } from "./helpers.js";
import { mutate, rng, seed, targets } from "./mutation-corpus.js";

const root = path.resolve(import.meta.dirname, "..");
const work = mkdtempSync(path.join(tmpdir(), "csnc-fmt-"));
cpSync(path.join(root, "models"), path.join(work, "models"), { recursive: true });
writeFileSync(path.join(work, "package.json"), "{}");

function csnFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? csnFiles(path.join(dir, e.name))
      : e.name.endsWith(".csn")
        ? [path.join(dir, e.name)]
        : [],
  );
}
const shipped = csnFiles(path.join(work, "models"));
const read = (f: string) => readFileSync(f, "utf8");

/** The comments of a text, in order (what the formatter must keep). */
function comments(text: string): string[] {
  return [...text.matchAll(/"(?:[^"\\\n]|\\.)*"|#[^\n]*/g)]
    .map((m) => m[0])
    .filter((m) => m.startsWith("#"))
    .map((c) => c.trimEnd());
}

/** stats --json without the layers' line:col (layout moves them), or undefined if it fails. */
async function numbers(file: string): Promise<unknown> {
  const r = await run("stats", file, "--json");
  if (r.code !== 0) return undefined;
  const json = JSON.parse(r.out) as { layers: { location?: unknown }[] };
  for (const l of json.layers) delete l.location;
  return json;
}

// The spacing of code scrambled, comments left alone: indentation dropped, runs of spaces
// collapsed, the spaces around '=' ',' ':' removed, blank lines doubled.
function scramble(text: string): string {
  return text
    .split("\n")
    .map((line) => {
      const hash = line.indexOf("#");
      const code = hash < 0 ? line : line.slice(0, hash);
      const rest = hash < 0 ? "" : line.slice(hash);
      const squeezed = code
        .trim()
        .replace(/ +/g, " ")
        .replace(/ ?([=,:]) ?/g, "$1");
      return rest ? `${squeezed}   ${rest}` : squeezed;
    })
    .join("\n")
    .replace(/\n\n/g, "\n\n\n");
}

describe("csnc fmt", () => {
  it("every shipped model is formatted (csnc fmt --check models)", async () => {
    const r = await run("fmt", "--check", path.join(root, "models"));
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
  });

  it("the layout does not depend on the spacing: a scrambled model formats back to the shipped one", () => {
    for (const file of shipped) {
      const text = read(file);
      const messy = scramble(text);
      expect(messy).not.toBe(text);
      expect(formatSource(messy, file).text, file).toBe(text);
    }
  });

  it("formatting a scrambled model keeps stats --json identical, over every shipped model", async () => {
    for (const file of shipped.filter((f) => !f.includes(`${path.sep}lib${path.sep}`))) {
      const before = await run("stats", file, "--json");
      writeFileSync(file, scramble(read(file)));
      expect((await run("fmt", file)).code).toBe(0);
      const after = await run("stats", file, "--json");
      expect(after.code).toBe(0);
      // Back in the shipped layout, every line:col is the same too.
      expect(after.out, file).toBe(before.out);
    }
  });

  it("the mutation corpus: every file that parses keeps its comments, formats idempotently, and keeps its numbers", async () => {
    const random = rng(seed);
    let valid = 0;
    let parsed = 0;
    for (const target of targets) {
      const file = path.join(work, "models", target);
      const original = read(file);
      const entry = target.startsWith("lib/") ? path.join(work, "models", "ir-csn-50.csn") : file;
      try {
        for (let i = 0; i < 40; i++) {
          const m = mutate(original, random);
          const context = `${target}, ${m.what}`;
          const r = formatSource(m.text, file);
          if (r.text === undefined) {
            expect(r.diagnostics.length, context).toBeGreaterThan(0);
            continue;
          }
          parsed++;
          expect(comments(r.text), context).toEqual(comments(m.text));
          expect(formatSource(r.text, file).text, context).toBe(r.text);
          writeFileSync(file, m.text);
          const before = await numbers(entry);
          writeFileSync(file, r.text);
          const after = await numbers(entry);
          expect(after, context).toEqual(before);
          if (before !== undefined) valid++;
        }
      } finally {
        writeFileSync(file, original);
      }
    }
    // The corpus holds both kinds: files that check and files that only parse.
    expect(valid).toBeGreaterThan(20);
    expect(parsed).toBeGreaterThan(valid);
  });

  it("--check lists what would change and exits 1; fmt rewrites; errors and links are refused", async () => {
    const file = path.join(work, "messy.csn");
    writeFileSync(file, "model m(){input 3x8x8x8\nrelu}\n");
    const check = await run("fmt", "--check", file);
    expect(check.code).toBe(1);
    expect(check.out.trim()).toBe(file);
    expect(read(file)).toBe("model m(){input 3x8x8x8\nrelu}\n");
    const r = await run("fmt", file);
    expect(r.code).toBe(0);
    expect(read(file)).toBe("model m() {\n  input 3x8x8x8\n  relu\n}\n");
    expect((await run("fmt", "--check", file)).code).toBe(0);

    const broken = path.join(work, "broken.csn");
    writeFileSync(broken, "model m() {\n  conv(8,\n}\n");
    const b = await run("fmt", broken);
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/broken\.csn:3:1: error: /);
    expect(read(broken)).toBe("model m() {\n  conv(8,\n}\n");

    const link = path.join(work, "link.csn");
    writeFileSync(path.join(work, "target.csn"), "model t(){input 3x8x8x8 relu}\n");
    symlinkSync(path.join(work, "target.csn"), link);
    const l = await run("fmt", link);
    expect(l.code).toBe(1);
    expect(l.err).toContain("is a symbolic link; format the file it points to");

    const big = path.join(work, "big.csn");
    writeFileSync(big, "");
    truncateSync(big, 70 * 2 ** 20); // sparse: nothing written
    const b2 = await run("fmt", big);
    expect(b2.code).toBe(1);
    expect(b2.err).toContain("it is 70 MB, and csnc reads .csn files of up to 64 MB");

    const missing = await run("fmt", path.join(work, "nope.csn"));
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("no such file or folder");
  });
});
