// The library's front door against a JavaScript caller's mistakes: each wrong argument is a
// CsncError that says what was expected, never a TypeError from deep inside; and check() takes
// parameter overrides as plain values.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { check, createSession, CsncError } from "../runtime/index.js";

const dir = mkdtempSync(path.join(tmpdir(), "csnc-library-"));
const file = path.join(dir, "m.csn");
writeFileSync(
  file,
  "model m(width: int = 4, mode: ir | ip = ir, kernel: dims = 1x1x1) {\n  input 8 x 2 x 4 x 4\n  conv(width, kernel)\n  relu\n  avgpool\n  fc(3)\n}\n",
);
const graph = check(file).graphs[0]!;

/** The CsncError `f` rejects or throws with. */
async function refusal(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(CsncError);
    return (e as Error).message;
  }
  throw new Error("accepted");
}

describe("check()", () => {
  it("takes --set overrides as a plain object or a Map of plain values, or of Values", () => {
    for (const set of [
      { width: 8, mode: "ip", kernel: [1, 1, 1] },
      new Map<string, unknown>([
        ["width", 8],
        ["mode", "ip"],
      ]),
      { width: { type: "int", value: 8 } },
    ] as const) {
      const r = check(file, { set: set as never });
      expect(r.diagnostics).toEqual([]);
      expect(r.graphs[0]!.nodes.find((n) => n.op.kind === "conv")!.shape[1]).toBe(8);
    }
    const typo = check(file, { set: { width: 8.5 } });
    expect(typo.diagnostics[0]!.message).toContain(
      "--set width=8.5: parameter 'width' expects int",
    );
  });

  it("refuses a value that is no parameter value, naming it", async () => {
    expect(await refusal(() => check(file, { set: { width: null as never } }))).toContain(
      "check: set.width is not a parameter value",
    );
    const cyclic: Record<string, unknown> = { type: "int" };
    cyclic.value = cyclic;
    expect(await refusal(() => check(file, { set: { width: cyclic as never } }))).toContain(
      "set.width",
    );
    expect(await refusal(() => check(file, { set: 5 as never }))).toContain("a Map or an object");
  });
});

describe("createSession() and runMany()", () => {
  it("refuses weights of the wrong form, an unknown backend and clips that are not iterable", async () => {
    const session = (o: object) => () =>
      createSession({ graph, backend: "opengles", ...o } as never);
    expect(await refusal(session({ weights: null }))).toMatch(
      /weights must be \{ random: seed \}.*got null/,
    );
    expect(await refusal(session({ weights: {} }))).toMatch(/tensors must be a Map/);
    expect(await refusal(session({ weights: { random: -1 } }))).toContain(
      "weights.random must be a whole number from 0 to 4294967295, got -1",
    );
    expect(await refusal(session({ weights: { tensors: new Map(), naming: "torch" } }))).toContain(
      "weights.naming must be one of csnc, vmz, mmaction2, pytorchvideo, got torch",
    );
    expect(
      await refusal(() =>
        createSession({ graph, weights: { random: 1 }, backend: "nonsense" as never }),
      ),
    ).toContain(
      "backend must be one of auto, gpu, vulkan, swiftshader, opengles, llvmpipe, got 'nonsense'",
    );
    const s = await createSession({ graph, weights: { random: 1 }, backend: "opengles" });
    try {
      expect(await refusal(() => s.runMany(null as never))).toContain(
        "runMany takes an iterable or async iterable of clips, got null",
      );
    } finally {
      s.destroy();
    }
  });
});
