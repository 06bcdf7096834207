// The generated module in a real browser: Debian's headless Chromium, WebGPU on SwiftShader,
// the ir-CSN-50 fixture's clip and weights served from localhost.
import { mkdirSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { launchChromium, serve } from "./browser.js";
import { fixturesDir } from "./fixtures.js";
import { relL2 } from "./gpu.js";
import { run } from "./helpers.js";

const generated = path.resolve(import.meta.dirname, ".generated", "browser-ir");
let browser: Browser;
let site: Awaited<ReturnType<typeof serve>>;

beforeAll(async () => {
  mkdirSync(generated, { recursive: true });
  const r = await run(
    "compile",
    path.resolve(import.meta.dirname, "../models/ir-csn-50.csn"),
    "--set",
    "width=8",
    "--set",
    "classes=10",
    "--input",
    "3x8x32x32",
    "--batch",
    "2",
    "--emit",
    "module",
    "-o",
    generated,
  );
  expect(r.code).toBe(0);
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
  it("reproduces the ir-CSN-50 fixture logits and refuses a wrong clip", async () => {
    const page = await browser.newPage();
    const q = new URLSearchParams({
      module: "/gen/index.js",
      weights: "/fixtures/models/ir-csn-50-w8/weights.safetensors",
      io: "/fixtures/models/ir-csn-50-w8/io.safetensors",
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
      expected: number[];
      adapter: string;
      wrongSize: string;
    };
    expect(result.error).toBeUndefined();
    expect(result.logits).toHaveLength(20);
    expect(relL2(result.logits, result.expected)).toBeLessThan(1e-4);
    expect(result.wrongSize).toMatch(/the clip must be a Float32Array of 2x3x8x32x32/);
    await page.close();
  }, 180_000);
});
