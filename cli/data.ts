// `csnc data synth`: training data sets. `synth` writes a seeded synthetic task that needs
// motion (the class is the shapes' direction of motion; no single frame tells it) as the
// safetensors file `csnc train --data` reads: input [N, 3, T, S, S] F32, labels [N] I64.
import { Command, Option } from "commander";
import { writeSafetensors } from "../runtime/safetensors.js";
import { synthClips, synthProblem } from "../runtime/train/synth.js";
import { checkOutputFile, writeOutput, type CliIo } from "./io.js";
import { parseInteger, rangeText, UsageError, type RangedOption } from "./options.js";

interface SynthCommandOptions {
  classes: number;
  clips: number;
  frames: number;
  size: number;
  seed: number;
  output: string;
}

/** An integer option read against `ranges[key]` (synth's own ranges for --clips, --frames, --size). */
const ranged = (flags: string, description: string, key: RangedOption, value: number) =>
  new Option(flags, `${description} (${rangeText(key)})`)
    .argParser((v: string) => parseInteger(v, key, flags.split(" ")[0]))
    .default(value);

function synthCommand(io: CliIo): Command {
  return new Command("synth")
    .description(
      "write a synthetic video task that needs motion: shapes drift over noise, the class is their direction (and speed, past 8 classes)",
    )
    .addOption(ranged("--classes <K>", "classes: directions, then faster ones", "--classes", 4))
    .addOption(ranged("--clips <N>", "clips, classes balanced", "synth --clips", 256))
    .addOption(ranged("--frames <T>", "frames per clip", "synth --frames", 8))
    .addOption(ranged("--size <S>", "frame height and width", "synth --size", 32))
    .addOption(ranged("--seed <X>", "random seed: the same seed, the same file", "--seed", 0))
    .requiredOption("-o, --output <file>", "the .safetensors file to write")
    .action((opts: SynthCommandOptions) => {
      const problem = synthProblem(opts);
      if (problem) throw new UsageError(`csnc data synth: ${problem.replace(/^(\w+) /, "--$1 ")}`);
      checkOutputFile(opts.output);
      const set = synthClips(opts);
      const labels = BigInt64Array.from(set.labels, (l) => BigInt(l));
      const bytes = writeSafetensors(
        new Map<string, { shape: readonly number[]; data: Float32Array | BigInt64Array }>([
          ["input", { shape: set.shape, data: set.input }],
          ["labels", { shape: [labels.length], data: labels }],
        ]),
        { ...set.metadata },
      );
      writeOutput(opts.output, bytes);
      const [n, , t, s] = set.shape;
      io.out(
        `wrote ${opts.output}: ${n} clips of 3x${t}x${s}x${s}, ${opts.classes} classes (${set.classNames.join(", ")}), ${(bytes.length / 2 ** 20).toFixed(1)} MiB`,
      );
    });
}

export function dataCommand(io: CliIo): Command {
  return new Command("data")
    .description("training data sets: csnc data synth writes a synthetic one")
    .addCommand(synthCommand(io));
}
