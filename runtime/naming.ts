// Tensor names of weight files. csnc's own names are the layer paths (`res3.0.conv_b.weight`);
// the VMZ PyTorch port names the same layers torchvision-style (`layer2.0.conv2.0.weight`).
export type Naming = "csnc" | "vmz" | "mmaction2" | "pytorchvideo";
export const namings: readonly Naming[] = ["csnc", "vmz", "mmaction2", "pytorchvideo"];

/** BN epsilon each scheme's published models use. */
export const namingEps: Record<Naming, number | undefined> = {
  csnc: undefined,
  vmz: 1e-3,
  mmaction2: 1e-3,
  pytorchvideo: 1e-5,
};

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

/** MMAction2's `ResNet3dCSN` names, under `backbone.` (the classifier under `cls_head.`). */
export function mmaction2Name(layerPath: string, paths: ReadonlySet<string>): string | undefined {
  if (layerPath === "stem.conv") return "backbone.conv1.conv";
  if (layerPath === "stem.bn") return "backbone.conv1.bn";
  if (layerPath === "head.fc") return "cls_head.fc_cls";
  const m = /^(res[2-5])\.(\d+)\.(.+)$/.exec(layerPath);
  if (!m) return undefined;
  const [, stage, index, layer] = m;
  const ip = paths.has(`${stage}.${index}.conv_p`);
  const local: Record<string, string> = {
    conv_a: "conv1.conv",
    bn_a: "conv1.bn",
    conv_p: "conv2.0.conv",
    bn_p: "conv2.0.bn",
    conv_b: ip ? "conv2.1.conv" : "conv2.0.conv",
    bn_b: ip ? "conv2.1.bn" : "conv2.0.bn",
    conv_c: "conv3.conv",
    bn_c: "conv3.bn",
    "shortcut.conv": "downsample.conv",
    "shortcut.bn": "downsample.bn",
  };
  const name = local[layer!];
  return name === undefined ? undefined : `backbone.layer${stageIndex[stage!]}.${index}.${name}`;
}

/** PyTorchVideo's `create_csn` names (ir blocks only). */
export function pytorchvideoName(layerPath: string): string | undefined {
  if (layerPath === "stem.conv") return "blocks.0.conv";
  if (layerPath === "stem.bn") return "blocks.0.norm";
  if (layerPath === "head.fc") return "blocks.5.proj";
  const m = /^res([2-5])\.(\d+)\.(.+)$/.exec(layerPath);
  if (!m) return undefined;
  const local: Record<string, string> = {
    conv_a: "branch2.conv_a",
    bn_a: "branch2.norm_a",
    conv_b: "branch2.conv_b",
    bn_b: "branch2.norm_b",
    conv_c: "branch2.conv_c",
    bn_c: "branch2.norm_c",
    "shortcut.conv": "branch1_conv",
    "shortcut.bn": "branch1_norm",
  };
  const name = local[m[3]!];
  return name === undefined ? undefined : `blocks.${Number(m[1]) - 1}.res_blocks.${m[2]}.${name}`;
}

/** Maps a layer path to its tensor-name prefix in the given scheme. */
export function tensorPrefix(
  layerPath: string,
  naming: Naming,
  paths: ReadonlySet<string>,
): string | undefined {
  switch (naming) {
    case "csnc":
      return layerPath;
    case "vmz":
      return vmzName(layerPath, paths);
    case "mmaction2":
      return mmaction2Name(layerPath, paths);
    case "pytorchvideo":
      return pytorchvideoName(layerPath);
  }
}

/** Recognises a scheme from a checkpoint's tensor names. */
export function detectNaming(names: Iterable<string>): Naming | undefined {
  const all = [...names];
  if (all.some((n) => n.startsWith("backbone.") || n.startsWith("cls_head."))) return "mmaction2";
  if (all.some((n) => /^blocks\.\d+\.(res_blocks|proj|conv|norm)/.test(n))) return "pytorchvideo";
  if (all.some((n) => n.startsWith("stem.0.") || /^layer\d\.\d+\.conv1\.0\./.test(n))) return "vmz";
  if (all.some((n) => n.startsWith("stem.conv.") || /^res\d\.\d+\./.test(n))) return "csnc";
  return undefined;
}
