// The mutation corpus: one generator, seed, replacements and target files for the language
// tests (test/mutation.test.ts), the formatter's and the language server's, so the server and
// the formatter see exactly the texts `csnc check` is fuzzed with.

/** A small deterministic generator (mulberry32) so failures reproduce. */
export function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const seed = 20191027;

export const targets = [
  "ir-csn-152.csn",
  "ip-csn-50.csn",
  "resnet3d-26.csn",
  "variants/bottleneck-dg.csn",
  "variants/simple-d.csn",
  "lib/blocks.csn",
];

export const replacements = [
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

/** A line deleted or duplicated, the text cut short, or a token changed. */
export function mutate(text: string, random: () => number): { text: string; what: string } {
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
