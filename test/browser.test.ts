// The generated module in a real browser: Debian's headless Chromium, WebGPU on SwiftShader,
// the ir-CSN-50 fixture's clip and weights served from localhost.
import { mkdirSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { launchChromium, serve } from "./browser.js";
import { fixturesDir, modelCases } from "./fixtures.js";
import { relL2 } from "./gpu.js";
import { emitFixtureModule } from "./helpers.js";

const generated = path.resolve(import.meta.dirname, ".generated", "browser");
let browser: Browser;
let site: Awaited<ReturnType<typeof serve>>;

beforeAll(async () => {
  for (const c of modelCases()) {
    const dir = path.join(generated, c.name);
    mkdirSync(dir, { recursive: true });
    const r = await emitFixtureModule(c, dir);
    expect(r.code).toBe(0);
  }
  site = await serve({
    "/gen/": generated,
    "/fixtures/": fixturesDir,
    "/pages/": path.resolve(import.meta.dirname, "pages"),
  });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  site?.server.close();
});

describe("generated module in headless Chromium", () => {
  for (const c of modelCases()) {
    it(`${c.name}: reproduces the fixture logits, twice in one page, and refuses a wrong clip`, async () => {
      const page = await browser.newPage();
      const q = new URLSearchParams({
        module: `/gen/${c.name}/index.js`,
        weights: `/fixtures/models/${c.name}/weights.safetensors`,
        io: `/fixtures/models/${c.name}/io.safetensors`,
        naming: "vmz",
      });
      await page.goto(`${site.url}/pages/module.html?${q}`);
      await page.waitForFunction(
        () => (window as unknown as { __result?: unknown }).__result !== undefined,
        undefined,
        { timeout: 120_000 },
      );
      const result = (await page.evaluate(
        () => (window as unknown as { __result: unknown }).__result,
      )) as {
        error?: string;
        logits: number[];
        twin: number[];
        expected: number[];
        wrongSize: string;
      };
      expect(result.error).toBeUndefined();
      expect(result.logits).toHaveLength(c.logits.data!.length);
      expect(relL2(result.logits, result.expected)).toBeLessThan(1e-4);
      expect(relL2(result.twin, result.expected)).toBeLessThan(1e-4);
      expect(result.wrongSize).toMatch(/the clip must be a Float32Array of/);
      await page.close();
    }, 180_000);
  }
});
