// Loading a .csn file and everything it imports. Imports resolve relative to the importing file
// and must stay inside the project tree, or name csnc's own models with `csnc:`; files are
// read through a host so the browser can supply its own.
import { parse, Codes, error, quote, type Diagnostic, type Program } from "../grammar/index.js";

/** The scheme of imports from csnc's shipped models/ folder: `import "csnc:lib/blocks.csn"`. */
export const shippedScheme = "csnc:";

export interface SourceHost {
  /** The file's text, or undefined when it does not exist or cannot be read. */
  read(file: string): string | undefined;
  /**
   * The file `spec` names, relative to the directory of `from`; a `csnc:` spec names a file
   * under `shippedRoot`.
   */
  resolve(from: string, spec: string): string;
  /** Whether `file` lies inside the directory `root`. */
  inside(root: string, file: string): boolean;
  /**
   * How to show a file in messages (e.g. relative to the working directory); `shipped`: it was
   * reached through a `csnc:` import (and may be shown as `csnc:lib/blocks.csn`).
   */
  display(file: string, shipped?: boolean): string;
  /** Where a file really is (symlinks followed), for the inside-the-tree check. */
  realpath?(file: string): string;
  /** Why `read` gave nothing (default: no such file), with a hint where one helps. */
  unreadable?(file: string): { reason: string; hint?: string };
  /** csnc's models/ folder, for `csnc:` imports; without it they are refused. */
  readonly shippedRoot?: string;
}

export interface LoadedProgram {
  /** The entry file first, then its imports in load order. */
  readonly programs: readonly Program[];
  readonly sources: ReadonlyMap<string, string>;
  readonly diagnostics: readonly Diagnostic[];
}

/** Import paths longer than this (bytes, as PATH_MAX) or with more parts are refused unresolved. */
export const maxImportPathBytes = 4096;
export const maxImportPathParts = 256;

/** Parses `entry` and, transitively, every file it imports. Never throws. */
export function loadProgram(entry: string, root: string, host: SourceHost): LoadedProgram {
  const programs: Program[] = [];
  const sources = new Map<string, string>();
  const diagnostics: Diagnostic[] = [];
  // Real paths of the files loaded or reported, so that a file reached twice (or through a
  // symlink) is read once.
  const loaded = new Set<string>();
  const real = (file: string) => host.realpath?.(file) ?? file;
  const why = (file: string) => host.unreadable?.(file) ?? { reason: "no such file" };

  // `tree`: the directory its imports must stay in (the project, or csnc's models/).
  const shippedReal = host.shippedRoot === undefined ? undefined : real(host.shippedRoot);
  const parseFile = (file: string, text: string, tree: string) => {
    const name = host.display(file, tree === shippedReal);
    sources.set(name, text);
    const result = parse(text, name);
    for (const d of result.diagnostics) diagnostics.push(d); // no push(...): lists can be huge
    if (result.program) programs.push(result.program);
    return { file, tree, imports: result.program?.imports ?? [], next: 0 };
  };

  // An entry inside the project that is a symlink out of it is refused unread too: `csnc
  // check models/*.csn` in someone else's tree must not print the first line of ~/.ssh/id_rsa.
  const entryReal = real(entry);
  const rootReal = real(root);
  if (host.inside(root, entry) && !host.inside(rootReal, entryReal)) {
    diagnostics.push(
      error(
        Codes.importOutsideProject,
        `${host.display(entry)} is a symbolic link out of its project tree (${rootReal}), to ${entryReal}`,
        undefined,
        { hint: "check the file where it lies, if you trust it" },
      ),
    );
    return { programs, sources, diagnostics };
  }
  const entryText = host.read(entry);
  if (entryText === undefined) {
    const { reason, hint } = why(entry);
    diagnostics.push(
      error(Codes.importNotFound, `cannot read ${host.display(entry)}: ${reason}`, undefined, {
        hint,
      }),
    );
    return { programs, sources, diagnostics };
  }
  loaded.add(entryReal);
  // Depth first, in import order, with an explicit stack: import chains may be long.
  const stack = [parseFile(entry, entryText, rootReal)];
  const realFiles = new Map([[entry, entryReal]]);
  while (stack.length > 0) {
    const top = stack.at(-1)!;
    const imp = top.imports[top.next++];
    if (!imp) {
      stack.pop();
      continue;
    }
    const shipped = imp.path.startsWith(shippedScheme);
    // No file system takes such a path, and resolving one costs time per part: refuse it.
    const tooLong =
      imp.path.length > maxImportPathBytes ||
      new TextEncoder().encode(imp.path).length > maxImportPathBytes;
    const parts = tooLong ? 0 : imp.path.split(/[\\/]/).length;
    if (tooLong || parts > maxImportPathParts) {
      diagnostics.push(
        error(
          Codes.importNotFound,
          !tooLong
            ? `import '${quote(imp.path)}' has ${parts} path parts, and csnc resolves import paths of up to ${maxImportPathParts}`
            : `import '${quote(imp.path)}' is ${imp.path.length.toLocaleString("en")} characters long, and csnc resolves import paths of up to ${maxImportPathBytes} bytes`,
          imp.span,
          { hint: "import paths are relative to the importing file, e.g. lib/blocks.csn" },
        ),
      );
      continue;
    }
    if (shipped && host.shippedRoot === undefined) {
      diagnostics.push(
        error(
          Codes.importNotFound,
          `import '${quote(imp.path)}': csnc's models are not available here`,
          imp.span,
          { hint: "import the file by its path, relative to this one" },
        ),
      );
      continue;
    }
    // Relative to where the importing file really is, as Node resolves modules.
    const target = host.resolve(realFiles.get(top.file) ?? top.file, imp.path);
    const targetReal = real(target);
    const tree = shipped ? shippedReal! : top.tree;
    if (!host.inside(tree, targetReal)) {
      diagnostics.push(
        shipped
          ? error(
              Codes.importOutsideProject,
              `import '${quote(imp.path)}' points outside csnc's models`,
              imp.span,
              { hint: "csnc: names a file of csnc's models/ folder, e.g. csnc:lib/blocks.csn" },
            )
          : error(
              Codes.importOutsideProject,
              `import '${quote(imp.path)}' points outside the project tree (${tree})${targetReal === target ? "" : `: it leads to ${targetReal}`}`,
              imp.span,
              {
                // A path into csnc's own models (a checkout beside the project) has a name.
                hint:
                  shippedReal !== undefined && host.inside(shippedReal, targetReal)
                    ? `csnc's shipped models are imported by name: import "${shippedScheme}${quote(targetReal.slice(shippedReal.length).replace(/^[\\/]+/, ""))}"`
                    : "keep shared .csn files inside the project, e.g. in models/lib/",
              },
            ),
      );
      continue;
    }
    if (loaded.has(targetReal)) continue;
    loaded.add(targetReal);
    const text = host.read(target);
    if (text === undefined) {
      const { reason } = why(target);
      diagnostics.push(
        error(
          Codes.importNotFound,
          `cannot read imported file '${quote(imp.path)}' (looked for ${host.display(target, tree === shippedReal)}: ${reason})`,
          imp.span,
          {
            hint: shipped
              ? "csnc: paths are relative to csnc's models/ folder, e.g. csnc:lib/blocks.csn"
              : "import paths are relative to the importing file",
          },
        ),
      );
      continue;
    }
    realFiles.set(target, targetReal);
    // A file of csnc's models keeps its relative imports inside them.
    stack.push(parseFile(target, text, tree));
  }
  return { programs, sources, diagnostics };
}
