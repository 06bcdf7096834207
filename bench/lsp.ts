// `npm run bench:lsp -- [--model models/ir-csn-152.csn] [--changes 30]`: how fast the language
// server answers an edit, as an editor sees it. One `csnc lsp --stdio` child; the model opened,
// then edited `--changes` times (a parameter's default toggled, so every shape is inferred
// again); per edit, the time from sending didChange to receiving its diagnostics (the
// debounce included), then inlay hints and a hover of the new text. Prints a table.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { diagnosticsDelayMs } from "../cli/lsp/server.js";
import { LspClient, positionOf, uri } from "./lsp-client.js";

const root = path.resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    model: { type: "string", default: "models/ir-csn-152.csn" },
    changes: { type: "string", default: "30" },
  },
});
const file = path.resolve(values.model);
const changes = Number(values.changes);
const text = readFileSync(file, "utf8");
// Toggles the first parameter's integer default: still valid, every shape recomputed.
const edit = /(\(\s*\w+\s*:\s*int\s*=\s*)(\d+)/.exec(text);
if (!edit) throw new Error(`${values.model}: no int parameter with a default to edit`);
const variant = (i: number) =>
  text.slice(0, edit.index) +
  edit[1] +
  (Number(edit[2]) + (i % 2)) +
  text.slice(edit.index + edit[0].length);

const client = new LspClient([path.join(root, "dist", "cli", "bin.js")], root);
await client.initialize(root);
const doc = { textDocument: { uri: uri(file) } };
const opened = client.diagnostics(file);
let t = performance.now();
client.open(file, text);
await opened;
const openMs = performance.now() - t;

const diagnostics: number[] = [];
const hints: number[] = [];
const hovers: number[] = [];
const hoverAt = positionOf(text, "stage res3", 2);
for (let i = 1; i <= changes; i++) {
  const next = client.diagnostics(file);
  t = performance.now();
  client.change(file, variant(i), i + 1);
  const d = await next;
  diagnostics.push(performance.now() - t);
  if (d.diagnostics.length) throw new Error(`unexpected diagnostics: ${d.diagnostics[0]!.message}`);
  t = performance.now();
  await client.request("textDocument/inlayHint", {
    ...doc,
    range: { start: { line: 0, character: 0 }, end: { line: 10_000, character: 0 } },
  });
  hints.push(performance.now() - t);
  t = performance.now();
  await client.request("textDocument/hover", { ...doc, position: hoverAt });
  hovers.push(performance.now() - t);
}
await client.close();

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return [q(0.5), s[0]!, q(0.9), s.at(-1)!].map((x) => x.toFixed(1));
};
const rows = [
  ["diagnostics after a change", ...stats(diagnostics)],
  [`  of which the debounce`, ...Array(4).fill(diagnosticsDelayMs.toFixed(1))],
  ["inlay hints (whole file)", ...stats(hints)],
  ["hover on a stage", ...stats(hovers)],
];
const header = ["ms", "median", "min", "p90", "max"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) =>
  r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
console.log(
  `${path.relative(root, file)}: ${changes} changes; first diagnostics after opening ${openMs.toFixed(0)} ms`,
);
console.log(line(header));
for (const r of rows) console.log(line(r));
