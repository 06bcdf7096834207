// One open file, analysed for the editor: checked as `csnc check` checks it (diagnostics and
// graphs), with the texts of open documents read in place of the files on disk, plus what
// editing needs beyond that: the recovered AST of a file that does not parse, and every loaded
// file's program and blocks, so imported blocks are known even while this file is broken.
import { parse, type BlockDecl, type ImportDecl, type Program } from "../../grammar/index.js";
import { recoverProgram, type Recovered } from "../../grammar/recover.js";
import { checkFile, type CheckResult } from "../index.js";
import { loadProgram, type SourceHost } from "../source.js";

/**
 * `base` with `open` (absolute path -> text) read first; files are shown by their absolute
 * paths, so every span names its file exactly.
 */
export function overlayHost(base: SourceHost, open: ReadonlyMap<string, string>): SourceHost {
  return {
    read: (file) => open.get(file) ?? base.read(file),
    resolve: (from, spec) => base.resolve(from, spec),
    inside: (root, file) => base.inside(root, file),
    display: (file) => file,
    realpath: base.realpath && ((file) => base.realpath!(file)),
    unreadable: base.unreadable && ((file) => base.unreadable!(file)),
    get shippedRoot() {
      return base.shippedRoot;
    },
  };
}

export interface Analysis {
  readonly file: string;
  readonly text: string;
  /** This file's program (recovered where it does not parse) and tokens. */
  readonly syntax: Recovered;
  /** Whether the file parsed without errors. */
  readonly parsed: boolean;
  /** `csnc check`'s result for the file: diagnostics, sources, graphs. */
  readonly check: CheckResult;
  /** The program of every file loaded (this one, its imports), by file. */
  readonly programs: ReadonlyMap<string, Program>;
  /** The blocks in scope here: this file's, then its imports', the first of a name winning. */
  readonly blocks: ReadonlyMap<string, BlockDecl>;
  /** Where each import of this file leads. */
  readonly imports: ReadonlyMap<ImportDecl, string>;
  /** The files each import of this file loads, itself and what it imports in turn. */
  readonly reach: ReadonlyMap<ImportDecl, ReadonlySet<string>>;
  /** The text of every file loaded, by file. */
  readonly texts: ReadonlyMap<string, string>;
}

/** The text of a file the analysis loaded (empty if it did not). */
export function textOf(a: Analysis, file: string): string {
  return file === a.file ? a.text : (a.texts.get(file) ?? "");
}

/** Analyses `file` (absolute, its text readable through `host`) in the project `root`. */
export function analyse(file: string, root: string, host: SourceHost): Analysis {
  const text = host.read(file) ?? "";
  const check = checkFile(file, root, host);
  const syntax = recoverProgram(text, file);
  // The check read every file this one loads; parsing their texts again costs less than
  // reading them again.
  const parsed = check.program !== undefined;
  const programs = new Map<string, Program>();
  const texts = new Map(check.sources);
  for (const [f, t] of check.sources)
    programs.set(
      f,
      f === file ? syntax.program : (parse(t, f).program ?? recoverProgram(t, f).program),
    );
  programs.set(file, syntax.program);
  const from = host.realpath?.(file) ?? file;
  const imports = new Map<ImportDecl, string>();
  for (const imp of syntax.program.imports) {
    const target = host.resolve(from, imp.path);
    imports.set(imp, target);
    // This file does not parse: load its imports one by one for their blocks.
    if (!parsed && !programs.has(target) && host.read(target) !== undefined) {
      const more = loadProgram(target, root, host);
      for (const p of more.programs) if (!programs.has(p.file)) programs.set(p.file, p);
      for (const [f, t] of more.sources) if (!texts.has(f)) texts.set(f, t);
    }
  }
  const reach = new Map<ImportDecl, Set<string>>();
  for (const [imp, target] of imports) {
    const files = new Set<string>();
    const todo = [target];
    while (todo.length > 0) {
      const f = todo.pop()!;
      if (files.has(f)) continue;
      files.add(f);
      const from = host.realpath?.(f) ?? f;
      for (const i of programs.get(f)?.imports ?? []) todo.push(host.resolve(from, i.path));
    }
    reach.set(imp, files);
  }
  const blocks = new Map<string, BlockDecl>();
  for (const p of programs.values())
    for (const b of p.blocks) if (!blocks.has(b.name)) blocks.set(b.name, b);
  return { file, text, syntax, parsed, check, programs, blocks, imports, reach, texts };
}
