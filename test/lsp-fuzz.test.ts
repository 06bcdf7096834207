// The language server never crashes: the mutation corpus of the language tests, typed into an
// open document one text after another, with every feature asked at random places of each.
// Every request must be answered (no protocol error), nothing may be logged as a failure, and
// the server must still answer and exit cleanly at the end.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csncEntry } from "./csnc-process.js";
import { LspClient, uri } from "../bench/lsp-client.js";
import { mutate, rng, seed, targets } from "./mutation-corpus.js";

const root = path.resolve(import.meta.dirname, "..");
const work = mkdtempSync(path.join(tmpdir(), "csnc-lsp-fuzz-"));
cpSync(path.join(root, "models"), path.join(work, "models"), { recursive: true });
writeFileSync(path.join(work, "package.json"), "{}");

let client: LspClient;
beforeAll(async () => {
  client = new LspClient(csncEntry(), root);
  await client.initialize(work);
}, 60_000);
afterAll(async () => {
  expect(await client.close()).toBe(0);
}, 30_000);

/** The LSP position of `offset` in `text`. */
function position(text: string, offset: number) {
  const lines = text.slice(0, offset).split("\n");
  return { line: lines.length - 1, character: lines.at(-1)!.length };
}

describe("csnc lsp under the mutation corpus", () => {
  for (const target of targets) {
    it(`${target}: 15 mutations, every feature at random places, no failure`, async () => {
      const random = rng(seed);
      const file = path.join(work, "models", target);
      const original = readFileSync(file, "utf8");
      const docUri = uri(file);
      const first = client.diagnostics(file);
      client.open(file, original, 1);
      await first;
      for (let i = 0; i < 15; i++) {
        const m = mutate(original, random);
        const context = `${target}, ${m.what}`;
        const published = client.diagnostics(file);
        client.change(file, m.text, i + 2);
        const d = await published;
        for (const x of d.diagnostics)
          expect(x.range.start.line, context).toBeGreaterThanOrEqual(0);
        const p = position(m.text, Math.floor(random() * (m.text.length + 1)));
        const doc = { textDocument: { uri: docUri } };
        const asked = [
          client.request("textDocument/hover", { ...doc, position: p }),
          client.request("textDocument/completion", { ...doc, position: p }),
          client.request("textDocument/signatureHelp", { ...doc, position: p }),
          client.request("textDocument/definition", { ...doc, position: p }),
          client.request("textDocument/references", {
            ...doc,
            position: p,
            context: { includeDeclaration: true },
          }),
          client.request("textDocument/inlayHint", {
            ...doc,
            range: { start: { line: 0, character: 0 }, end: position(m.text, m.text.length) },
          }),
          client.request("textDocument/semanticTokens/full", doc),
          client.request("textDocument/documentSymbol", doc),
          client.request("textDocument/prepareRename", { ...doc, position: p }),
          client.request("textDocument/formatting", {
            ...doc,
            options: { tabSize: 2, insertSpaces: true },
          }),
        ];
        await expect(Promise.all(asked), context).resolves.toBeDefined();
      }
      const logged = client.received.filter((m) => m.method === "window/logMessage");
      expect(logged).toEqual([]);
      client.notify("textDocument/didClose", { textDocument: { uri: docUri } });
    });
  }

  it("still answers, and wrote nothing but protocol", async () => {
    expect(
      await client.request("textDocument/hover", {
        textDocument: { uri: uri(path.join(work, "nope.csn")) },
        position: { line: 0, character: 0 },
      }),
    ).toBeNull();
    expect(client.garbage).toEqual([]);
  });
});
