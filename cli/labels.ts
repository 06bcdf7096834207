// Class names for run and classify: Kinetics-400's, shipped with csnc, or a user's file.
import { readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { CsncError, RuntimeCodes } from "../runtime/errors.js";
import { readFile } from "./read-file.js";

const MiB = 2 ** 20;

/** runtime/labels/`name`: beside this module in the source tree, or in the installed package. */
function bundledLabels(name: string): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // cli/labels.ts in the source tree; dist/cli/labels.js when built.
  const candidates = [path.resolve(here, "../runtime/labels", name)];
  // The package root, found by walking up to csnc's own package.json, holds runtime/labels.
  for (let dir = here; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
        name?: unknown;
      };
      if (pkg.name === "csnc") {
        candidates.push(path.join(dir, "runtime", "labels", name));
        break;
      }
    } catch {
      // no (readable) package.json here: keep walking up
    }
    if (path.dirname(dir) === dir) break;
  }
  return candidates.find((f) => {
    try {
      return statSync(f).isFile();
    } catch {
      return false;
    }
  });
}

/** The most a labels file may hold: Kinetics-400's names are 6 KB. */
const maxLabelBytes = 64 * MiB;

/**
 * Class names: `kinetics400` (runtime/labels/kinetics400.txt, found from dist/ or the source
 * tree) or a file with one name per line.
 */
export function labelsFrom(option: string): string[] {
  let file = option;
  if (option === "kinetics400") {
    const found = bundledLabels("kinetics400.txt");
    if (!found)
      throw new CsncError(
        RuntimeCodes.badFile,
        "cannot find the kinetics400 labels (runtime/labels/kinetics400.txt) beside csnc; the installation is incomplete",
      );
    file = found;
  }
  return new TextDecoder()
    .decode(readFile(file, "labels", maxLabelBytes))
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}
