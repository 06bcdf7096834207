// The Node implementation of SourceHost: files from disk, shown relative to the working directory;
// `csnc:` imports from the models/ folder of csnc's own package.
import { closeSync, existsSync, openSync, readFileSync, realpathSync, statSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { shippedScheme, type SourceHost } from "./source.js";

/** Larger files are refused unread: the biggest real network is a few kilobytes of .csn. */
export const maxSourceBytes = 64 * 1024 * 1024;

function isInside(root: string, file: string): boolean {
  const rel = path.relative(root, file);
  return rel === "" || (rel !== ".." && !rel.startsWith(".." + path.sep) && !path.isAbsolute(rel));
}

let packageRootCache: string | null | undefined;

/**
 * csnc's package root: the nearest folder above this module holding csnc's package.json (the
 * source tree, or the installed package with dist/compiler/node-host.js).
 */
export function packageRoot(): string | undefined {
  if (packageRootCache === undefined) {
    packageRootCache = null;
    for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
      try {
        const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
          name?: unknown;
        };
        if (pkg.name === "csnc") {
          packageRootCache = realpath(dir);
          break;
        }
      } catch {
        // no package.json here, or not JSON: keep looking
      }
      if (path.dirname(dir) === dir) break;
    }
  }
  return packageRootCache ?? undefined;
}

/** csnc's shipped models/ folder, where `csnc:` imports point. */
export function shippedModels(): string | undefined {
  const root = packageRoot();
  const models = root && path.join(root, "models");
  return models && existsSync(models) ? models : undefined;
}

/**
 * Where `file` really is: symlinks followed as far as the path exists. Missing parts are
 * collected in reverse and joined once (unshift and join per part were quadratic); import
 * paths are capped (source.ts) so the walk up is short.
 */
function realpath(file: string): string {
  const missing: string[] = [];
  for (let cur = path.resolve(file); ; cur = path.dirname(cur)) {
    try {
      return path.join(realpathSync(cur), ...missing.reverse());
    } catch {
      if (path.dirname(cur) === cur) return path.resolve(file);
      missing.push(path.basename(cur));
    }
  }
}

function display(file: string, shipped = false): string {
  const models = shipped ? shippedModels() : undefined;
  const cwd = process.cwd();
  // csnc's own files by their import name, unless working in csnc's tree itself.
  if (models && isInside(models, file) && !isInside(packageRoot()!, cwd))
    return shippedScheme + path.relative(models, file).split(path.sep).join("/");
  const rel = path.relative(cwd, file);
  if (rel === "") return ".";
  return isInside(cwd, file) ? rel : file;
}

export const nodeHost: SourceHost = {
  read(file) {
    try {
      const st = statSync(file);
      return st.isFile() && st.size <= maxSourceBytes ? readFileSync(file, "utf8") : undefined;
    } catch {
      return undefined;
    }
  },
  resolve: (from, spec) =>
    spec.startsWith(shippedScheme)
      ? path.resolve(shippedModels() ?? path.dirname(from), spec.slice(shippedScheme.length))
      : path.resolve(path.dirname(from), spec),
  inside: isInside,
  display,
  realpath,
  unreadable(file) {
    const code = (e: unknown) => (e as { code?: string }).code;
    let st;
    try {
      st = statSync(file);
    } catch (e) {
      const c = code(e);
      if (c === "EACCES") return { reason: "permission denied" };
      if (c === "ELOOP") return { reason: "too many levels of symbolic links" };
      return { reason: "no such file" };
    }
    if (st.isDirectory()) {
      return {
        reason: "it is a folder",
        hint: `give the .csn files in it instead, e.g. ${display(file)}/*.csn`,
      };
    }
    if (!st.isFile()) return { reason: "it is not a regular file" };
    if (st.size > maxSourceBytes) {
      const mb = (n: number) => Math.round(n / 2 ** 20);
      return {
        reason: `it is ${mb(st.size)} MB, and csnc reads .csn files of up to ${mb(maxSourceBytes)} MB`,
      };
    }
    try {
      closeSync(openSync(file, "r"));
    } catch (e) {
      return { reason: code(e) === "EACCES" ? "permission denied" : "it cannot be read" };
    }
    return { reason: "it cannot be read" };
  },
  get shippedRoot() {
    return shippedModels();
  },
};

/**
 * The project tree of a file: the nearest ancestor holding package.json or .git, else its
 * folder. The file as named: a symlink out of the tree is then refused (see loadProgram).
 */
export function projectRoot(file: string): string {
  const start = path.dirname(path.resolve(file));
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json")) || existsSync(path.join(dir, ".git")))
      return dir;
    if (path.dirname(dir) === dir) return start;
  }
}
