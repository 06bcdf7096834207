// Loading a .csn file and everything it imports. Imports resolve relative to the importing file
// and must stay inside the project tree; files are read through a host so the browser can
// supply its own.
import { parse, Codes, error, type Diagnostic, type Program } from "../grammar/index.js";

export interface SourceHost {
  /** The file's text, or undefined when it does not exist or cannot be read. */
  read(file: string): string | undefined;
  /** The file `spec` names, relative to the directory of `from`. */
  resolve(from: string, spec: string): string;
  /** Whether `file` lies inside the directory `root`. */
  inside(root: string, file: string): boolean;
  /** How to show a file in messages (e.g. relative to the working directory). */
  display(file: string): string;
}

export interface LoadedProgram {
  /** The entry file first, then its imports in load order. */
  readonly programs: readonly Program[];
  readonly sources: ReadonlyMap<string, string>;
  readonly diagnostics: readonly Diagnostic[];
}

/** Parses `entry` and, transitively, every file it imports. Never throws. */
export function loadProgram(entry: string, root: string, host: SourceHost): LoadedProgram {
  const programs: Program[] = [];
  const sources = new Map<string, string>();
  const diagnostics: Diagnostic[] = [];
  const loaded = new Set<string>();

  const load = (file: string): void => {
    loaded.add(file);
    const name = host.display(file);
    const text = host.read(file);
    if (text === undefined) return; // reported by the importer, or by the caller for the entry
    sources.set(name, text);
    const result = parse(text, name);
    diagnostics.push(...result.diagnostics);
    if (!result.program) return;
    programs.push(result.program);
    for (const imp of result.program.imports) {
      const target = host.resolve(file, imp.path);
      if (!host.inside(root, target)) {
        diagnostics.push(
          error(
            Codes.importOutsideProject,
            `import '${imp.path}' points outside the project tree (${host.display(root)})`,
            imp.span,
            {
              hint: "keep shared .csn files inside the project, e.g. in models/lib/",
            },
          ),
        );
        continue;
      }
      if (loaded.has(target)) continue;
      if (host.read(target) === undefined) {
        diagnostics.push(
          error(
            Codes.importNotFound,
            `cannot read imported file '${imp.path}' (looked for ${host.display(target)})`,
            imp.span,
            {
              hint: "import paths are relative to the importing file",
            },
          ),
        );
        loaded.add(target);
        continue;
      }
      load(target);
    }
  };

  if (host.read(entry) === undefined) {
    diagnostics.push(
      error(Codes.importNotFound, `cannot read ${host.display(entry)}: no such file`),
    );
    return { programs, sources, diagnostics };
  }
  load(entry);
  return { programs, sources, diagnostics };
}
