// `npx tsx editors/screenshot.ts [OUT.png]`: the README's picture of inlay-hinted models, made
// from the language server's own answers. No editor can be driven here, so this asks
// `csnc lsp --stdio` (the built one, `npm run build` first) for the inlay hints, semantic
// tokens and one hover of ir-CSN-152 and the shipped blocks, lays them out as an editor would
// in an HTML page, and photographs it with the system's chromium through playwright-core.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { LspClient, positionOf, uri, type Position } from "../bench/lsp-client.js";

const root = path.resolve(import.meta.dirname, "..");
const out = path.resolve(
  process.argv[2] ?? path.join(root, "editors", "vscode", "images", "inlay-hints.png"),
);
const model = path.join(root, "models", "ir-csn-152.csn");
const blocks = path.join(root, "models", "lib", "blocks.csn");

interface Hint {
  position: Position;
  label: string;
}
interface Legend {
  tokenTypes: string[];
}

const client = new LspClient([path.join(root, "dist", "cli", "bin.js")], root);
const init = (await client.initialize(root)) as {
  capabilities: { semanticTokensProvider: { legend: Legend } };
};
const legend = init.capabilities.semanticTokensProvider.legend.tokenTypes;
for (const f of [model, blocks]) {
  const d = client.diagnostics(f);
  client.open(f, readFileSync(f, "utf8"));
  await d;
}

const colors: Record<string, string> = {
  keyword: "#c586c0",
  function: "#dcdcaa",
  parameter: "#9cdcfe",
  variable: "#9cdcfe",
  type: "#4ec9b0",
  enumMember: "#4fc1ff",
  property: "#d7ba7d",
  number: "#b5cea8",
  string: "#ce9178",
  operator: "#d4d4d4",
};
const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Lines `from`..`to` (0-based, inclusive) of a file as HTML, coloured and hinted by the server. */
async function render(file: string, from: number, to: number): Promise<string> {
  const text = readFileSync(file, "utf8");
  const lines = text.split("\n");
  const doc = { textDocument: { uri: uri(file) } };
  const hints = await client.request<Hint[]>("textDocument/inlayHint", {
    ...doc,
    range: { start: { line: 0, character: 0 }, end: { line: lines.length, character: 0 } },
  });
  const data = (await client.request<{ data: number[] }>("textDocument/semanticTokens/full", doc))
    .data;
  const spans = new Map<number, { char: number; length: number; type: string }[]>();
  for (let i = 0, line = 0, char = 0; i < data.length; i += 5) {
    line += data[i]!;
    char = data[i] === 0 ? char + data[i + 1]! : data[i + 1]!;
    const list = spans.get(line) ?? [];
    list.push({ char, length: data[i + 2]!, type: legend[data[i + 3]!]! });
    spans.set(line, list);
  }
  const rows: string[] = [];
  for (let l = from; l <= to; l++) {
    const line = lines[l] ?? "";
    const marks = [
      ...(spans.get(l) ?? []).map((s) => ({ at: s.char, html: "", span: s })),
      ...hints
        .filter((h) => h.position.line === l)
        .map((h) => ({
          at: h.position.character,
          html: `<span class="hint">${escape(h.label)}</span>`,
          span: undefined,
        })),
    ].sort((a, b) => a.at - b.at);
    let html = "";
    let at = 0;
    const comment = line.indexOf("#");
    const plain = (s: string, start: number) => {
      // Comments are the grammar's, not the server's: colour them here.
      const c = comment >= start && comment < start + s.length ? comment - start : -1;
      return c < 0
        ? escape(s)
        : escape(s.slice(0, c)) + `<span class="comment">${escape(s.slice(c))}</span>`;
    };
    for (const m of marks) {
      if (m.at < at) continue;
      html += plain(line.slice(at, m.at), at);
      at = m.at;
      if (m.span) {
        html += `<span style="color:${colors[m.span.type] ?? "#d4d4d4"}">${escape(line.slice(at, at + m.span.length))}</span>`;
        at += m.span.length;
      } else html += m.html;
    }
    html += plain(line.slice(at), at);
    rows.push(`<div class="line"><span class="no">${l + 1}</span>${html}</div>`);
  }
  return rows.join("");
}

const modelText = readFileSync(model, "utf8");
const blocksText = readFileSync(blocks, "utf8");
const hover = await client.request<{ contents: { value: string } }>("textDocument/hover", {
  textDocument: { uri: uri(blocks) },
  position: positionOf(blocksText, "conv_b: dwconv", 10),
});
// The hover's markdown as VS Code shows it: a code block, paragraphs, a list, inline code.
const inline = (t: string) => escape(t).replace(/`([^`]+)`/g, "<code>$1</code>");
const hoverHtml = hover.contents.value
  .split("\n\n")
  .map((para) => {
    const fence = /^```csn\n([\s\S]*)\n```$/.exec(para);
    if (fence) return `<pre class="sig">${escape(fence[1]!)}</pre>`;
    if (para.startsWith("- "))
      return `<ul>${para
        .split("\n")
        .map((l) => `<li>${inline(l.slice(2))}</li>`)
        .join("")}</ul>`;
    return `<p>${inline(para)}</p>`;
  })
  .join("");
const bottleneck = positionOf(blocksText, "block bottleneck(").line;
const page = `<!doctype html><html><head><meta charset="utf-8"><style>
body { margin: 0; background: #1e1e1e; font: 14px/1.45 "DejaVu Sans Mono", monospace; color: #d4d4d4; }
.tab { background: #2d2d2d; color: #ccc; padding: 6px 14px; font-family: sans-serif; font-size: 13px; }
.code { padding: 8px 0; white-space: pre; }
.line { height: 20px; }
.no { display: inline-block; width: 44px; text-align: right; margin-right: 18px; color: #6e7681; }
.hint { background: #3a3d41; color: #a8b1bd; border-radius: 4px; padding: 0 5px; margin-left: 8px; font-size: 12.5px; }
.comment { color: #6a9955; }
.blocks { position: relative; }
.hover { position: absolute; left: 430px; top: ${8 + (positionOf(blocksText, "conv_b: dwconv").line - bottleneck + 1) * 20}px; width: 600px; background: #252526; border: 1px solid #454545; padding: 8px 12px; font: 13px/1.5 sans-serif; white-space: normal; box-shadow: 0 2px 8px #000a; }
.hover code, .hover pre { font-family: "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.hover code { color: #ce9178; }
.hover pre { margin: 0 0 6px; color: #dcdcaa; white-space: pre-wrap; }
.hover p { margin: 4px 0; }
.hover ul { margin: 4px 0; padding-left: 18px; }
</style></head><body>
<div class="tab">ir-csn-152.csn</div><div class="code">${await render(model, 0, modelText.split("\n").length - 2)}</div>
<div class="tab">lib/blocks.csn</div><div class="code blocks">${await render(blocks, bottleneck, bottleneck + 22)}<div class="hover">${hoverHtml}</div></div>
</body></html>`;
await client.close();

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const tab = await browser.newPage({ viewport: { width: 1180, height: 980 } });
await tab.setContent(page);
await tab.screenshot({ path: out, fullPage: true });
await browser.close();
console.log(`wrote ${path.relative(process.cwd(), out)}`);
