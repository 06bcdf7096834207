// The demo's Fine-tune panel in headless Chromium: tiny videos of two classes (ffmpeg's testsrc
// and a moving mandelbrot), labelled by their file names' prefixes, the FC layer trained a few
// steps on WebGPU in the page, a live loss curve, then Classify; a screenshot for review.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
// @ts-expect-error: a plain JavaScript module without types
import { createDemoServer } from "../examples/browser/serve.mjs";
import { launchChromium } from "./browser.js";

const shots = path.resolve(import.meta.dirname, ".generated");
let browser: Browser;
let server: import("node:http").Server;
let url: string;

beforeAll(async () => {
  server = createDemoServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
});

function video(name: string, source: string): string {
  const file = path.join(shots, name);
  execFileSync("ffmpeg", [
    ...["-y", "-loglevel", "error", "-f", "lavfi", "-i", source],
    ...["-frames:v", "16", "-c:v", "libvpx", "-pix_fmt", "yuv420p", file],
  ]);
  return file;
}

describe("demo page: fine-tuning", () => {
  it("fine-tunes the whole model on labelled videos with a live loss curve, then classifies them right", async () => {
    mkdirSync(shots, { recursive: true });
    const videos = [
      video("testsrc_a.webm", "testsrc=size=64x48:rate=10"),
      video("mandel_a.webm", "mandelbrot=size=64x48:rate=10"),
      video("testsrc_b.webm", "testsrc=size=64x48:rate=10:decimals=2"),
      video("mandel_b.webm", "mandelbrot=size=64x48:rate=10:start_scale=2"),
    ];
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(url);
    await page.waitForSelector("#stats tr:nth-child(3)");
    await page.selectOption("#model", "models/ir-csn-mini.csn");
    await page.fill("#width", "8");
    await page.fill("#input", "3x4x32x32");
    await page.dispatchEvent("#input", "change");
    await page.setInputFiles("#train-videos", videos);
    expect(
      await page
        .locator(".train-label")
        .evaluateAll((l) => l.map((i) => (i as HTMLInputElement).value)),
    ).toEqual(["testsrc", "mandel", "testsrc", "mandel"]);
    const steps = 30;
    await page.selectOption("#train-scope", "whole");
    await page.fill("#train-steps", String(steps));
    await page.fill("#train-lr", "0.05");
    const start = Date.now();
    await page.click("#train");
    await page.waitForFunction(
      () =>
        /^trained /.test(document.getElementById("train-status")!.textContent ?? "") ||
        document.getElementById("train-status")!.className === "error",
      undefined,
      { timeout: 120_000 },
    );
    const trainMs = Date.now() - start;
    const status = await page.locator("#train-status").innerText();
    expect(await page.locator("#train-status").getAttribute("class"), status).not.toBe("error");
    expect(status).toMatch(/whole model, 2 classes: mandel, testsrc\) for 30 steps of 4/);
    expect(status).toMatch(/accuracy on the training videos 4\/4/);
    const losses = JSON.parse(
      (await page.locator("#loss-chart").getAttribute("data-losses")) ?? "[]",
    ) as number[];
    expect(losses).toHaveLength(steps);
    expect(await page.locator("#loss-chart circle.point").count()).toBe(steps);
    for (const l of losses) expect(Number.isFinite(l)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    await page.setInputFiles("#classify-video", videos[1]!);
    await page.click("#classify");
    await page.waitForSelector("#predicted");
    expect(await page.locator("#predicted").innerText()).toBe("mandel");
    await page.screenshot({ path: path.join(shots, "demo-train.png"), fullPage: true });
    console.log(`fine-tuning: ${trainMs} ms; losses ${losses.map((l) => l.toFixed(3)).join(" ")}`);
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);
});
