// Tensor names of weight files. csnc's own names are the layer paths (`res3.0.conv_b.weight`);
// the VMZ PyTorch port names the same layers torchvision-style (`layer2.0.conv2.0.weight`).
export type Naming = "csnc" | "vmz";
export const namings: readonly Naming[] = ["csnc", "vmz"];

const stageIndex: Record<string, number> = { res2: 1, res3: 2, res4: 3, res5: 4 };

/**
 * The VMZ name of a layer path, or undefined when VMZ has none. `paths` holds every layer path
 * of the model: an ip block (one with `conv_p`) numbers its depthwise conv `conv2.0.2`.
 */
export function vmzName(layerPath: string, paths: ReadonlySet<string>): string | undefined {
  if (layerPath === "stem.conv") return "stem.0";
  if (layerPath === "stem.bn") return "stem.1";
  if (layerPath === "head.fc") return "fc";
  const m = /^(res[2-5])\.(\d+)\.(.+)$/.exec(layerPath);
  if (!m) return undefined;
  const [, stage, index, layer] = m;
  const block = `${stage}.${index}`;
  const ip = paths.has(`${block}.conv_p`);
  const local: Record<string, string> = {
    conv_a: "conv1.0",
    bn_a: "conv1.1",
    conv_p: "conv2.0.0",
    bn_p: "conv2.0.1",
    conv_b: ip ? "conv2.0.2" : "conv2.0",
    bn_b: "conv2.1",
    conv_c: "conv3.0",
    bn_c: "conv3.1",
    "shortcut.conv": "downsample.0",
    "shortcut.bn": "downsample.1",
  };
  const name = local[layer!];
  return name === undefined ? undefined : `layer${stageIndex[stage!]}.${index}.${name}`;
}

/** Maps a layer path to its tensor-name prefix in the given scheme. */
export function tensorPrefix(
  layerPath: string,
  naming: Naming,
  paths: ReadonlySet<string>,
): string | undefined {
  return naming === "csnc" ? layerPath : vmzName(layerPath, paths);
}
