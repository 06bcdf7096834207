// The demo page end to end in headless Chromium: statistics and chart, a run on the test
// pattern, the top-5 classes and the per-kernel profile chart; a screenshot for review.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
// @ts-expect-error: a plain JavaScript module without types
import { createDemoServer } from "../examples/browser/serve.mjs";
import { launchChromium } from "./browser.js";
import { fixturesDir } from "./fixtures.js";

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

/** Sets the model's width and input (and classes), the way a user types them. */
async function configure(page: Page, input: string, classes?: string) {
  await page.goto(url);
  await page.waitForSelector("#stats tr:nth-child(3)");
  await page.fill("#width", "8");
  if (classes) await page.fill("#classes", classes);
  await page.fill("#input", input);
  await page.dispatchEvent("#input", "change");
}

/** Clicks Run and waits until the status line reports the run or an error. */
async function run(page: Page) {
  await page.click("#run");
  await page.waitForFunction(
    () =>
      /dispatches/.test(document.getElementById("status")!.textContent ?? "") ||
      document.getElementById("status")!.className === "error",
    undefined,
    { timeout: 120_000 },
  );
}

describe("demo page", () => {
  it("shows statistics, runs a model and profiles it", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await configure(page, "3x4x32x32");
    expect(await page.locator("#stats").innerText()).toMatch(/res4/);
    expect(await page.locator("#stage-chart rect.bar").count()).toBe(12);
    await run(page);
    expect(await page.locator("#status").getAttribute("class")).not.toBe("error");
    expect(await page.locator("#status").innerText()).toMatch(/ir_csn_50 on .*57 dispatches/);
    expect(await page.locator("#top li").count()).toBe(5);
    // 400 classes: Kinetics names, as csnc run prints them.
    const kinetics = readFileSync(
      path.resolve(import.meta.dirname, "../runtime/labels/kinetics400.txt"),
      "utf8",
    ).split("\n");
    const first = await page.locator("#top li").first().innerText();
    const [, k, name] = /^(\d+) (.+) \d+\.\d+%$/.exec(first) ?? [];
    expect(name, first).toBe(kinetics[Number(k)]);
    expect(await page.locator("#profile-chart rect.bar").count()).toBe(12);
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, "demo.png"), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);

  it("runs a dropped PyTorch checkpoint through the same reader", async () => {
    const page = await browser.newPage();
    await configure(page, "3x8x32x32", "10");
    await page.setInputFiles(
      "#weights",
      path.join(fixturesDir, "checkpoints", "pytorchvideo-ir-csn-50-w8.pyth"),
    );
    await run(page);
    expect(await page.locator("#status").innerText()).toMatch(
      /57 dispatches, .* pytorchvideo-ir-csn-50-w8\.pyth/,
    );
    expect(await page.locator("#top li").count()).toBe(5);
    await page.close();
  }, 180_000);

  it("classifies a dropped video, decoded by the browser", async () => {
    mkdirSync(shots, { recursive: true });
    const video = path.join(shots, "testsrc.webm");
    execFileSync("ffmpeg", [
      "-y",
      "-loglevel",
      "error",
      "-f",
      "lavfi",
      "-i",
      "testsrc=size=160x120:rate=25",
      "-t",
      "1",
      "-c:v",
      "libvpx",
      "-pix_fmt",
      "yuv420p",
      video,
    ]);
    const page = await browser.newPage();
    await configure(page, "3x4x32x32");
    await page.setInputFiles("#video", video);
    await run(page);
    expect(await page.locator("#status").innerText()).toMatch(/57 dispatches, .* testsrc\.webm/);
    expect(await page.locator("#top li").count()).toBe(5);
    await page.close();
  }, 180_000);
});
