// The Node implementation of SourceHost: files from disk, shown relative to the working directory.
import { existsSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import type { SourceHost } from "./source.js";

export const nodeHost: SourceHost = {
  read(file) {
    try {
      return statSync(file).isFile() ? readFileSync(file, "utf8") : undefined;
    } catch {
      return undefined;
    }
  },
  resolve: (from, spec) => path.resolve(path.dirname(from), spec),
  inside(root, file) {
    const rel = path.relative(root, file);
    return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
  },
  display(file) {
    const rel = path.relative(process.cwd(), file);
    return rel.startsWith("..") || path.isAbsolute(rel) ? file : rel;
  },
};

/** The project tree of a file: the nearest ancestor holding package.json or .git, else its folder. */
export function projectRoot(file: string): string {
  const start = path.dirname(path.resolve(file));
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json")) || existsSync(path.join(dir, ".git")))
      return dir;
    if (path.dirname(dir) === dir) return start;
  }
}
