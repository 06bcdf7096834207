// The server's state: open documents, their analyses (recomputed after a pause in typing, or
// at once when a request needs the current text), and the project's other .csn files for
// references and renames. Files on disk are read here; the analyses are the compiler's.
import { readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { TextDocument } from "vscode-languageserver-textdocument";
import type { Program } from "../../grammar/index.js";
import { recoverProgram } from "../../grammar/recover.js";
import { maxSourceBytes, nodeHost, projectRoot } from "../../compiler/node-host.js";
import type { Graph } from "../../compiler/index.js";
import { analyse, overlayHost, type Analysis } from "../../compiler/service/project.js";
import type { Project } from "../../compiler/service/navigation.js";
import type { ShapeSource } from "../../compiler/service/shapes.js";

/** The project's .csn files read for references and renames, at most, and folders searched. */
const maxProjectFiles = 2000;
const maxProjectFolders = 10_000;

export const uriToFile = (uri: string): string | undefined => {
  try {
    return uri.startsWith("file:") ? fileURLToPath(uri) : undefined;
  } catch {
    return undefined;
  }
};
export const fileToUri = (file: string) => pathToFileURL(file).href;

export class Workspace {
  private readonly docs = new Map<string, TextDocument>(); // by file
  /** Per file, its analysis and the versions of the open documents it read. */
  private readonly analyses = new Map<
    string,
    { versions: Map<string, number>; analysis: Analysis }
  >();
  /** Folders searched for the project's files (the client's workspace folders). */
  roots: string[] = [];

  open(doc: TextDocument): string | undefined {
    const file = uriToFile(doc.uri);
    if (file) this.docs.set(file, doc);
    return file;
  }
  close(uri: string): void {
    const file = uriToFile(uri);
    if (!file) return;
    this.docs.delete(file);
    this.analyses.delete(file);
  }
  openFiles(): string[] {
    return [...this.docs.keys()];
  }
  document(file: string): TextDocument | undefined {
    return this.docs.get(file);
  }
  /** Forgets every analysis: a file on disk changed. */
  invalidate(): void {
    this.analyses.clear();
  }

  private host() {
    return overlayHost(nodeHost, new Map([...this.docs].map(([f, d]) => [f, d.getText()])));
  }

  /** The analysis of an open file's current text. */
  analysis(file: string): Analysis | undefined {
    const doc = this.docs.get(file);
    if (!doc) return undefined;
    const known = this.analyses.get(file);
    // Still valid while this file and every file it read (its imports) are as they were.
    if (known && [...known.versions].every(([f, v]) => (this.docs.get(f)?.version ?? -1) === v))
      return known.analysis;
    const analysis = analyse(file, projectRoot(file), this.host());
    const versions = new Map<string, number>();
    // -1: read from disk; opening such a file in the editor makes this analysis stale.
    for (const f of [file, ...analysis.texts.keys()])
      versions.set(f, this.docs.get(f)?.version ?? -1);
    this.analyses.set(file, { versions, analysis });
    return analysis;
  }

  /** Open files whose analysis read `file` (they import it). */
  dependents(file: string): string[] {
    return [...this.analyses]
      .filter(([f, { analysis }]) => f !== file && analysis.texts.has(file))
      .map(([f]) => f);
  }

  /** The graphs that shape `file`: its own models, then those of the other open files. */
  shapes(file: string): ShapeSource {
    const own = this.analysis(file)?.check.graphs ?? [];
    const others: Graph[] = [];
    for (const f of this.docs.keys())
      if (f !== file) others.push(...(this.analysis(f)?.check.graphs ?? []));
    return { own, others };
  }

  /** Every .csn file of the project, open ones as they are in the editor. */
  project(): Project {
    const programs = new Map<string, Program>();
    for (const f of this.docs.keys()) {
      const a = this.analysis(f);
      if (!a) continue;
      for (const [file, p] of a.programs)
        if (!programs.has(file) || file === f) programs.set(file, p);
    }
    for (const file of this.projectFiles()) {
      if (programs.has(file)) continue;
      try {
        if (statSync(file).size > maxSourceBytes) continue;
        programs.set(file, recoverProgram(readFileSync(file, "utf8"), file).program);
      } catch {
        // unreadable: not part of the project as far as renames go
      }
    }
    return {
      programs,
      resolve: (from, spec) => nodeHost.resolve(nodeHost.realpath?.(from) ?? from, spec),
    };
  }

  private projectFiles(): string[] {
    const out: string[] = [];
    let folders = 0;
    const roots = this.roots.length
      ? this.roots
      : [...new Set(this.openFiles().map((f) => projectRoot(f)))];
    const walk = (dir: string) => {
      // A workspace that is a home folder must not be read whole.
      if (++folders > maxProjectFolders) return;
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (out.length >= maxProjectFiles) return;
        const p = path.join(dir, e.name);
        if (
          e.isDirectory() &&
          !e.name.startsWith(".") &&
          e.name !== "node_modules" &&
          e.name !== "dist"
        )
          walk(p);
        else if (e.isFile() && e.name.endsWith(".csn")) out.push(p);
      }
    };
    for (const r of roots) walk(r);
    return out;
  }
}
