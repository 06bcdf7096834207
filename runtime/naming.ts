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

type Port = "vmz" | "mmaction2" | "pytorchvideo";
const column: Record<Port, number> = { vmz: 0, mmaction2: 1, pytorchvideo: 2 };

// A residual block's layers in each port: VMZ, MMAction2's `ResNet3dCSN`, PyTorchVideo's
// `create_csn` (ir blocks only: "" where it has none).
const blockLayers: Readonly<Record<string, readonly [string, string, string]>> = {
  conv_a: ["conv1.0", "conv1.conv", "branch2.conv_a"],
  bn_a: ["conv1.1", "conv1.bn", "branch2.norm_a"],
  conv_p: ["conv2.0.0", "conv2.0.conv", ""],
  bn_p: ["conv2.0.1", "conv2.0.bn", ""],
  conv_b: ["conv2.0", "conv2.0.conv", "branch2.conv_b"],
  bn_b: ["conv2.1", "conv2.0.bn", "branch2.norm_b"],
  conv_c: ["conv3.0", "conv3.conv", "branch2.conv_c"],
  bn_c: ["conv3.1", "conv3.bn", "branch2.norm_c"],
  "shortcut.conv": ["downsample.0", "downsample.conv", "branch1_conv"],
  "shortcut.bn": ["downsample.1", "downsample.bn", "branch1_norm"],
};
// An ip block (one with `conv_p`) numbers the layers after its extra conv further on.
const ipBlockLayers: Readonly<Record<string, readonly [string, string, string]>> = {
  ...blockLayers,
  conv_b: ["conv2.0.2", "conv2.1.conv", "branch2.conv_b"],
  bn_b: ["conv2.1", "conv2.1.bn", "branch2.norm_b"],
};

/** A port's names of the stem and head layers, and the prefix of a residual block's layers. */
interface Scheme {
  readonly port: Port;
  readonly fixed: Readonly<Record<string, string>>;
  readonly block: (stage: number, index: string) => string;
}

// csnc's stages res2..res5 are the ports' layer1..layer4.
const vmz: Scheme = {
  port: "vmz",
  fixed: { "stem.conv": "stem.0", "stem.bn": "stem.1", "head.fc": "fc" },
  block: (stage, index) => `layer${stage - 1}.${index}`,
};
// MMAction2 puts the network under `backbone.` and the classifier under `cls_head.`.
const mmaction2: Scheme = {
  port: "mmaction2",
  fixed: {
    "stem.conv": "backbone.conv1.conv",
    "stem.bn": "backbone.conv1.bn",
    "head.fc": "cls_head.fc_cls",
  },
  block: (stage, index) => `backbone.layer${stage - 1}.${index}`,
};
const pytorchvideo: Scheme = {
  port: "pytorchvideo",
  fixed: { "stem.conv": "blocks.0.conv", "stem.bn": "blocks.0.norm", "head.fc": "blocks.5.proj" },
  block: (stage, index) => `blocks.${stage - 1}.res_blocks.${index}`,
};

// A table's entry; layer paths are user text, and `toString` is not a layer of any port.
function own<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** The name of a layer path in `scheme`, or undefined when the scheme has none. */
function schemeName(scheme: Scheme, layerPath: string, paths: ReadonlySet<string>) {
  const fixed = own(scheme.fixed, layerPath);
  if (fixed !== undefined) return fixed;
  const m = /^res([2-5])\.(\d+)\.(.+)$/.exec(layerPath);
  if (!m) return undefined;
  const [, stage, index, layer] = m;
  const ip = paths.has(`res${stage}.${index}.conv_p`);
  const name = own(ip ? ipBlockLayers : blockLayers, layer!)?.[column[scheme.port]];
  return name ? `${scheme.block(Number(stage), index!)}.${name}` : undefined;
}

/**
 * The VMZ name of a layer path, or undefined when VMZ has none. `paths` holds every layer path
 * of the model: an ip block (one with `conv_p`) numbers its depthwise conv `conv2.0.2`.
 */
export function vmzName(layerPath: string, paths: ReadonlySet<string>): string | undefined {
  return schemeName(vmz, layerPath, paths);
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
      return schemeName(mmaction2, layerPath, paths);
    case "pytorchvideo":
      return schemeName(pytorchvideo, layerPath, paths);
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
