// Class names for run and classify: Kinetics-400's, shipped with csnc, or a user's file.
import { readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { printable } from "../grammar/index.js";
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
 * tree) or a UTF-8 text file with one name per line. A binary file is refused; names keep no
 * control characters (they reach the terminal).
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
  const bytes = readFile(file, "labels", maxLabelBytes);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    text = "\0";
  }
  if (text.includes("\0"))
    throw new CsncError(
      RuntimeCodes.badFile,
      `${printable(file)}: not a labels file (binary, not UTF-8 text with one class name per line)`,
    );
  return text
    .split("\n")
    .map((l) => printable(l.trim()))
    .filter(Boolean);
}

/** Whether a --labels value names a file of the user's (not `kinetics400` or `none`). */
export const isLabelsFile = (option: string | undefined): option is string =>
  option !== undefined && option !== "none" && option !== "kinetics400";

/** --labels as given, with the names it names read: before the work, so a bad file costs none. */
export interface LabelsChoice {
  readonly option?: string;
  readonly names?: readonly string[];
}

export function readLabels(option: string | undefined): LabelsChoice {
  return {
    option,
    names: option === undefined || option === "none" ? undefined : labelsFrom(option),
  };
}

/**
 * The names run, classify and the queue's workers show for a model of `classes` classes:
 * `option` a labels file, `none`, or `kinetics400`, whose names fit only a 400-class model
 * (others show class numbers). Left out, Kinetics' names where they fit. `note` hears of a
 * mismatch the user asked for.
 */
export function classLabels(
  { option, names }: LabelsChoice,
  classes: number,
  note: (message: string) => void = () => undefined,
): readonly string[] {
  if (option === "none") return [];
  if (option === undefined || option === "kinetics400") {
    if (classes === 400) return names ?? labelsFrom("kinetics400");
    if (option)
      note(
        `note: the kinetics400 labels name 400 classes and this model has ${classes}: classes show as numbers`,
      );
    return [];
  }
  const labels = names ?? labelsFrom(option);
  if (labels.length !== classes)
    note(
      `note: ${printable(option)} names ${labels.length} classes and this model has ${classes}: ${labels.length < classes ? "the rest show as numbers" : "the extra names go unused"}`,
    );
  return labels;
}
