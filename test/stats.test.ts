// Counts against published numbers, the PyTorch-made fixtures and an independent count.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { checkFile } from "../compiler/index.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import { conventionFlops, type Convention } from "../compiler/stats/conventions.js";
import { statsReport } from "../compiler/stats/report.js";
import { countArch, type Arch, type Mode } from "./reference/count-csn.js";

const root = path.resolve(import.meta.dirname, "..");
const fixtures = path.resolve(root, "test/fixtures/models");

function stats(
  model: string,
  options: { set?: Record<string, number>; input?: string; batch?: number } = {},
) {
  const file = path.join(root, "models", model);
  const set = new Map(
    Object.entries(options.set ?? {}).map(([k, v]) => [k, { type: "int" as const, value: v }]),
  );
  const input = options.input?.split("x").map(Number) as
    [number, number, number, number] | undefined;
  const r = checkFile(file, projectRoot(file), nodeHost, { set, input, batch: options.batch });
  expect(r.diagnostics).toEqual([]);
  return { report: statsReport(r.graphs[0]!, r.sources), graph: r.graphs[0]!, sources: r.sources };
}

describe("published counts (CSN paper, VMZ, MMAction2)", () => {
  it("ir-CSN-152 at 32x256x256", () => {
    const t = stats("ir-csn-152.csn", { input: "3x32x256x256" }).report.totals;
    expect(t.macs).toBe(96713211904);
    expect(t.params).toBe(29552144);
    expect(t.bnParams).toBe(151424);
  });
  it("ip-CSN-152 at 32x256x256", () => {
    const t = stats("ip-csn-152.csn", { input: "3x32x256x256" }).report.totals;
    expect(t.macs).toBe(108792807424);
    expect(t.params).toBe(32841232);
    expect(t.bnParams).toBe(175360);
  });
  it("ir-CSN-152 at 32x224x224 (its declared input)", () => {
    expect(stats("ir-csn-152.csn").report.totals.macs).toBe(74046244864);
  });
  it("ir-CSN-50 has 13131152 params with BN", () => {
    const t = stats("ir-csn-50.csn").report.totals;
    expect(t.params + t.bnParams).toBe(13131152);
  });
  it("ir-CSN-101 has 22.21 M params with BN (PyTorchVideo csn_r101)", () => {
    const t = stats("ir-csn-101.csn").report.totals;
    expect(((t.params + t.bnParams) / 1e6).toFixed(2)).toBe("22.21");
  });

  const flops = (model: string, convention: Convention) => {
    const { graph } = stats(model, { input: "3x32x256x256" });
    return graph.nodes.reduce((a, n) => a + conventionFlops(n, graph, convention), 0) / 1e9;
  };
  it("other tools' conventions reproduce their published tables", () => {
    expect(flops("ir-csn-101.csn", "fvcore").toFixed(2)).toBe("75.62");
    expect(flops("ir-csn-50.csn", "mmcv").toFixed(2)).toBe("55.90");
    expect(flops("ip-csn-152.csn", "mmcv").toFixed(1)).toBe("109.9");
    // MMAction2 lists 97.63 G; the 2-per-BN-element rule gives 97.64 G (0.01% apart).
    expect(Math.abs(flops("ir-csn-152.csn", "mmcv") - 97.63)).toBeLessThan(0.015);
  });
});

describe("PyTorch fixtures (test/fixtures/models/*/model.json)", () => {
  const cases: [string, string, Record<string, number>][] = [
    ["ir-csn-50-w8", "ir-csn-50.csn", { width: 8, classes: 10 }],
    ["ip-csn-50-w8", "ip-csn-50.csn", { width: 8, classes: 10 }],
    ["resnet3d-50-w4", "resnet3d-50.csn", { width: 4, classes: 7 }],
  ];
  for (const [fixture, model, set] of cases) {
    it(`${fixture} counts per sample`, () => {
      const meta = JSON.parse(readFileSync(path.join(fixtures, fixture, "model.json"), "utf8"));
      const [, c, t, h, w] = meta.input_shape_NCTHW as number[];
      const { report } = stats(model, { set, input: `${c}x${t}x${h}x${w}` });
      expect(report.totals.params).toBe(meta.params_without_bn);
      expect(report.totals.bnParams).toBe(meta.bn_affine_params);
      expect(report.totals.macs).toBe(meta.conv_and_fc_macs_per_sample);
      expect(report.totals.interactions).toBe(meta.conv_channel_interactions);
      expect(report.outputShape).toEqual([1, meta.classes, 1, 1, 1]);
    });
  }
});

describe("independent count for unpublished configurations", () => {
  const depths: Record<number, [number, number, number, number]> = {
    26: [2, 2, 2, 2],
    50: [3, 4, 6, 3],
    101: [3, 4, 23, 3],
    152: [3, 8, 36, 3],
  };
  const files: Record<Mode, string> = { ir: "ir-csn", ip: "ip-csn", resnet: "resnet3d" };
  const inputs = ["3x8x112x112", "3x16x160x128", "3x5x33x47", "3x32x256x256"];
  let k = 0;
  for (const mode of ["ir", "ip", "resnet"] as Mode[]) {
    for (const depth of [26, 50, 101, 152]) {
      const input = inputs[k % inputs.length]!;
      const width = [16, 8, 64, 32][k % 4]!;
      const classes = [400, 10, 487, 7][k % 4]!;
      const batch = (k % 3) + 1;
      k++;
      it(`${files[mode]}-${depth} width ${width}, ${classes} classes, input ${input}, batch ${batch}`, () => {
        const { report } = stats(`${files[mode]}-${depth}.csn`, {
          set: { width, classes },
          input,
          batch,
        });
        const expected = countArch({
          mode,
          blocks: depths[depth]!,
          width,
          expansion: depth === 26 ? 1 : 4,
          classes,
          input: input.split("x").map(Number) as Arch["input"],
          batch,
        });
        expect({
          params: report.totals.params,
          bnParams: report.totals.bnParams,
          macs: report.totals.macs,
          interactions: report.totals.interactions,
        }).toEqual(expected);
      });
    }
  }
});

describe("ablation variants", () => {
  it("bottleneck-D equals ir-CSN-50 and bottleneck equals ResNet3D-50", () => {
    const input = "3x8x112x112";
    expect(stats("variants/bottleneck-d.csn", { input }).report.totals).toEqual(
      stats("ir-csn-50.csn", { input }).report.totals,
    );
    expect(stats("variants/bottleneck.csn", { input }).report.totals).toEqual(
      stats("resnet3d-50.csn", { input }).report.totals,
    );
  });
  it("group and depthwise variants cut interactions as the paper says", () => {
    const simple = stats("variants/simple.csn").report.totals;
    const simpleG = stats("variants/simple-g.csn", { set: { groups: 2 } }).report.totals;
    const simpleD = stats("variants/simple-d.csn").report.totals;
    expect(simpleG.interactions).toBeLessThan(simple.interactions);
    // simple-D keeps every 1x1x1 channel pairing: interactions of a C->C 1x1x1 equal those of a 3x3x3.
    expect(simpleD.interactions).toBe(simple.interactions);
    expect(simpleD.macs).toBeLessThan(simpleG.macs);
    const dg = stats("variants/bottleneck-dg.csn", { set: { groups: 4 } }).report.totals;
    const d = stats("variants/bottleneck-d.csn").report.totals;
    expect(dg.interactions).toBeLessThan(d.interactions);
  });
  it("a grouped conv counts C_out * binom(C_in / G, 2) interactions", () => {
    const { report } = stats("variants/bottleneck-g.csn", { set: { groups: 4 } });
    const conv = report.layers.find((l) => l.path === "res2.0.conv_b")!;
    expect(conv.interactions).toBe(64 * ((16 * 15) / 2));
    expect(conv.params).toBe(64 * 16 * 27);
  });
});

describe("stats report structure", () => {
  it("subtotals by block and stage add up to the totals", () => {
    const { report } = stats("ip-csn-50.csn", { input: "3x8x64x64" });
    for (const groups of [report.blocks, report.stages]) {
      expect(groups.reduce((a, g) => a + g.macs, 0)).toBe(report.totals.macs);
      expect(groups.reduce((a, g) => a + g.params, 0)).toBe(report.totals.params);
      expect(groups.reduce((a, g) => a + g.interactions, 0)).toBe(report.totals.interactions);
    }
    expect(report.stages.map((s) => s.name)).toEqual([
      "stem",
      "res2",
      "res3",
      "res4",
      "res5",
      "head",
    ]);
    expect(report.blocks.map((b) => b.name)).toContain("res4.5");
  });
  it("layers carry paper paths and source positions", () => {
    const { report } = stats("ir-csn-152.csn");
    const paths = report.layers.map((l) => l.path);
    expect(paths).toContain("stem.conv");
    expect(paths).toContain("res3.0.conv_b");
    expect(paths).toContain("res3.0.shortcut.conv");
    expect(paths).toContain("res5.2.conv_c");
    expect(paths).toContain("head.fc");
    expect(new Set(paths).size).toBe(paths.length);
    const dw = report.layers.find((l) => l.path === "res3.0.conv_b")!;
    expect(dw.op).toBe("dwconv");
    expect(dw.interactions).toBe(0);
    expect(dw.location.file).toMatch(/blocks\.csn$/);
    expect(dw.location.line).toBeGreaterThan(1);
  });
});
