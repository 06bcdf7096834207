// Mutated model files never crash the CLI: each still checks (exit 0) or fails with exit 1 and
// positioned diagnostics, fast. Mutations (test/mutation-corpus.ts, shared with the formatter's
// and the language server's tests): a line deleted or duplicated, the text cut short, a token
// changed.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "./helpers.js";
import { mutate, rng, seed, targets } from "./mutation-corpus.js";

const root = path.resolve(import.meta.dirname, "..");

describe("mutated model files", () => {
  const work = mkdtempSync(path.join(tmpdir(), "csnc-mutation-"));
  cpSync(path.join(root, "models"), path.join(work, "models"), { recursive: true });
  writeFileSync(path.join(work, "package.json"), "{}");
  const random = rng(seed);

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
