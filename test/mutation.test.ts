// Mutated model files never crash the CLI: each still checks (exit 0) or fails with exit 1 and
// positioned diagnostics, fast. Mutations: a line deleted, the text cut short, a token changed.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "./helpers.js";

const root = path.resolve(import.meta.dirname, "..");

// A small deterministic generator (mulberry32) so failures reproduce.
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const replacements = [
  "conv",
  "bn",
  "x",
  "0",
  "-1",
  "3x3",
  "1x1x1x1",
  "(",
  ")",
  "{",
  "}",
  "=",
  ",",
  ":",
  "residual",
  "repeat",
  "if",
  "else",
  "input",
  "stage",
  "mode",
  "ip",
  '"s"',
  "2 ** 99",
  "/",
  "width",
  "block",
  "model",
  "import",
  "shortcut",
  "let",
  "1e-3",
  "true",
];

function mutate(text: string, random: () => number): { text: string; what: string } {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const kind = pick(["delete-line", "truncate", "token", "token", "duplicate-line"] as const);
  const lines = text.split("\n");
  if (kind === "delete-line") {
    const i = Math.floor(random() * lines.length);
    return { text: lines.filter((_, j) => j !== i).join("\n"), what: `deleted line ${i + 1}` };
  }
  if (kind === "duplicate-line") {
    const i = Math.floor(random() * lines.length);
    return {
      text: [...lines.slice(0, i + 1), lines[i]!, ...lines.slice(i + 1)].join("\n"),
      what: `duplicated line ${i + 1}`,
    };
  }
  if (kind === "truncate") {
    const at = Math.floor(random() * text.length);
    return { text: text.slice(0, at), what: `cut at offset ${at}` };
  }
  const tokens = [...text.matchAll(/[A-Za-z_]\w*|\d+(?:x\d+)*|\*\*|==|[^\s\w]/g)];
  const t = pick(tokens);
  const by = pick(replacements);
  return {
    text: text.slice(0, t.index) + by + text.slice(t.index! + t[0].length),
    what: `'${t[0]}' at offset ${t.index} -> '${by}'`,
  };
}

describe("mutated model files", () => {
  const work = mkdtempSync(path.join(tmpdir(), "csnc-mutation-"));
  cpSync(path.join(root, "models"), path.join(work, "models"), { recursive: true });
  writeFileSync(path.join(work, "package.json"), "{}");
  const targets = [
    "ir-csn-152.csn",
    "ip-csn-50.csn",
    "resnet3d-26.csn",
    "variants/bottleneck-dg.csn",
    "variants/simple-d.csn",
    "lib/blocks.csn",
  ];
  const random = rng(20191027);

  for (const target of targets) {
    it(`${target}: 40 mutations each check or fail cleanly within a second`, async () => {
      const file = path.join(work, "models", target);
      const original = readFileSync(file, "utf8");
      const entry = target.startsWith("lib/") ? path.join(work, "models", "ir-csn-50.csn") : file;
      try {
        for (let i = 0; i < 40; i++) {
          const m = mutate(original, random);
          writeFileSync(file, m.text);
          const start = performance.now();
          const r = await run("check", entry, file);
          const ms = performance.now() - start;
          const context = `${target}, ${m.what}:\n${r.err}`;
          expect([0, 1], context).toContain(r.code);
          expect(r.err, context).not.toContain("internal error");
          expect(ms, context).toBeLessThan(1000);
          if (r.code === 1) expect(r.err, context).toMatch(/:\d+:\d+: error: |no such file/);
        }
      } finally {
        writeFileSync(file, original);
      }
    });
  }
});
