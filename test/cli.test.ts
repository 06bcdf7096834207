// The CLI as users meet it: exit codes, help, JSON, and messages without stack traces.
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "./helpers.js";

const root = path.resolve(import.meta.dirname, "..");
const model = (name: string) => path.join(root, "models", name);

describe("csnc check", () => {
  it("passes every shipped model and library file", async () => {
    const files = [
      "ir-csn-26",
      "ir-csn-50",
      "ir-csn-101",
      "ir-csn-152",
      "ip-csn-26",
      "ip-csn-50",
      "ip-csn-101",
      "ip-csn-152",
      "resnet3d-26",
      "resnet3d-50",
      "resnet3d-101",
      "resnet3d-152",
    ]
      .map((m) => model(`${m}.csn`))
      .concat(
        [
          "simple",
          "simple-g",
          "simple-d",
          "bottleneck",
          "bottleneck-g",
          "bottleneck-d",
          "bottleneck-dg",
        ].map((v) => model(`variants/${v}.csn`)),
        model("lib/blocks.csn"),
      );
    const r = await run("check", ...files);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out.trim().split("\n")).toHaveLength(files.length);
  });

  it("exits 1 with positioned diagnostics on a bad file", async () => {
    const r = await run("check", path.join(root, "test/data/bad-syntax.csn"));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad-syntax\.csn:3:\d+: error: /);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it("gives JSON diagnostics", async () => {
    const r = await run("check", "--json", path.join(root, "test/data/bad-syntax.csn"));
    expect(r.code).toBe(1);
    const json = JSON.parse(r.out);
    expect(json.ok).toBe(false);
    expect(json.files[0].diagnostics[0]).toMatchObject({
      severity: "error",
      location: { line: expect.any(Number), col: expect.any(Number) },
    });
  });

  it("exits 1 for a missing file", async () => {
    const r = await run("check", "no/such/file.csn");
    expect(r.code).toBe(1);
    expect(r.err).toContain("no such file");
  });
});

describe("csnc stats", () => {
  it("prints the totals the paper publishes", async () => {
    const r = await run("stats", model("ir-csn-152.csn"), "--input", "3x32x256x256", "--json");
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(json.totals).toMatchObject({ macs: 96713211904, params: 29552144, bn_params: 151424 });
    expect(json.input.shape).toEqual([1, 3, 32, 256, 256]);
    expect(json.layers[0]).toMatchObject({
      path: "stem.conv",
      op: "conv",
      output_shape: [1, 64, 32, 128, 128],
    });
  });

  it("renders aligned tables by stage, block and layer", async () => {
    const byStage = await run("stats", model("ir-csn-152.csn"), "--input", "3x32x256x256");
    expect(byStage.out).toMatch(/^total\s+515\s+29\.55 M\s+151\.42 K\s+96\.71 G\s+10\.53 G$/m);
    const byLayer = await run("stats", model("ir-csn-50.csn"), "--by", "layer", "--set", "width=8");
    expect(byLayer.out).toMatch(/^res3\.0\.conv_b\s+dwconv\s+3x3x3 s2x2x2 p1x1x1 g16/m);
    const byBlock = await run("stats", model("ir-csn-50.csn"), "--by", "block");
    expect(byBlock.out).toMatch(/^res4\.5\s+\d+/m);
  });

  it("scales MACs with --batch and reports other conventions", async () => {
    const one = JSON.parse((await run("stats", model("ir-csn-50.csn"), "--json")).out).totals;
    const four = JSON.parse(
      (await run("stats", model("ir-csn-50.csn"), "--json", "--batch", "4")).out,
    ).totals;
    expect(four.macs).toBe(4 * one.macs);
    expect(four.params).toBe(one.params);
    const fv = JSON.parse(
      (
        await run(
          "stats",
          model("ir-csn-101.csn"),
          "--json",
          "--input",
          "3x32x256x256",
          "--convention",
          "fvcore",
        )
      ).out,
    );
    expect((fv.totals.flops / 1e9).toFixed(2)).toBe("75.62");
  });

  it("exits 1 on bad --set, 2 on usage errors", async () => {
    const badSet = await run("stats", model("ir-csn-50.csn"), "--set", "widht=8");
    expect(badSet.code).toBe(1);
    expect(badSet.err).toContain("did you mean 'width'?");
    expect((await run("stats", model("ir-csn-50.csn"), "--input", "3x8x8")).code).toBe(2);
    expect((await run("stats", model("ir-csn-50.csn"), "--by", "nothing")).code).toBe(2);
    expect((await run("stats")).code).toBe(2);
    expect((await run("frobnicate")).code).toBe(2);
    expect((await run("stats", model("lib/blocks.csn"))).code).toBe(2);
  });

  it("has per-command help", async () => {
    const r = await run("stats", "--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("--convention");
    expect(r.out).toContain("fvcore");
    expect((await run("check", "--help")).out).toContain("--input");
  });
});
