// The language service in-process, at many cursor places of shipped and mutated files: every
// request the server makes of compiler/service/ answers without throwing, wherever the cursor
// is and whatever the text (the protocol-level fuzz, test/lsp-fuzz.test.ts, asks at one random
// place per text; this asks at every eleventh offset).
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import { signatureHelp } from "../compiler/service/calls.js";
import { complete } from "../compiler/service/completion.js";
import { fileDiagnostics } from "../compiler/service/diagnostics.js";
import { hover } from "../compiler/service/hover.js";
import { definition, references, rename } from "../compiler/service/navigation.js";
import { outline, semanticTokens } from "../compiler/service/outline.js";
import { analyse, overlayHost } from "../compiler/service/project.js";
import { shapeHints } from "../compiler/service/shapes.js";
import { mutate, rng, seed } from "./mutation-corpus.js";

const root = path.resolve(import.meta.dirname, "..");

describe("the language service at every eleventh offset", () => {
  for (const target of ["lib/blocks.csn", "ir-csn-152.csn"]) {
    it(`${target} and 5 mutations of it`, () => {
      const file = path.join(root, "models", target);
      const original = readFileSync(file, "utf8");
      const random = rng(seed + 1);
      let asked = 0;
      for (let k = 0; k < 6; k++) {
        const text = k === 0 ? original : mutate(original, random).text;
        const a = analyse(file, projectRoot(file), overlayHost(nodeHost, new Map([[file, text]])));
        const shapes = { own: a.check.graphs, others: [] };
        const project = { programs: a.programs, resolve: nodeHost.resolve };
        shapeHints(a, shapes);
        semanticTokens(a);
        outline(a);
        fileDiagnostics(a, (f) => f);
        for (let at = 0; at <= text.length; at += 11) {
          const context = `${target}, text ${k}, offset ${at}`;
          expect(() => {
            complete(a, at);
            hover(a, at, shapes);
            signatureHelp(a, at);
            definition(a, at);
            references(a, at, project);
            rename(a, at, "renamed", project);
          }, context).not.toThrow();
          asked++;
        }
      }
      expect(asked).toBeGreaterThan(300);
    });
  }
});
