// Weights from any supported file, with the naming scheme resolved: what `--weights` reads
// everywhere and what `csnc import` converts.
import { readCheckpoint, type Checkpoint } from "./checkpoint.js";
import { CsncError, RuntimeCodes } from "./errors.js";
import { detectNaming, namingEps, type Naming } from "./naming.js";
import type { Tensor } from "./safetensors.js";

export interface LoadedWeights {
  readonly tensors: ReadonlyMap<string, Tensor>;
  readonly naming: Naming;
  /** Whether the scheme was detected rather than given. */
  readonly detected: boolean;
  /** BN epsilon the source network used, when the file or its scheme says. */
  readonly bnEps?: number;
  readonly format: Checkpoint["format"];
  readonly metadata: Readonly<Record<string, string>>;
}

export function loadWeights(
  bytes: Uint8Array,
  file: string,
  naming: Naming | "auto",
): LoadedWeights {
  const checkpoint = readCheckpoint(bytes, file);
  let tensors = checkpoint.tensors;
  const fromMetadata = checkpoint.metadata.csnc_naming as Naming | undefined;
  const resolved: Naming | undefined =
    naming === "auto" ? (fromMetadata ?? detectNaming(tensors.keys())) : naming;
  if (!resolved)
    throw new CsncError(
      RuntimeCodes.missingTensor,
      `${file}: cannot tell which naming scheme its tensors use; pass --naming vmz, mmaction2, pytorchvideo or csnc`,
    );
  if (resolved === "mmaction2") {
    // Some MMAction2 releases nest the stem one level deeper: backbone.backbone.conv1.
    tensors = new Map(
      [...tensors].map(([k, v]) => [k.replace(/^backbone\.backbone\./, "backbone."), v]),
    );
  }
  const eps =
    checkpoint.metadata.bn_eps !== undefined
      ? Number(checkpoint.metadata.bn_eps)
      : namingEps[resolved];
  return {
    tensors,
    naming: resolved,
    detected: naming === "auto",
    bnEps: eps,
    format: checkpoint.format,
    metadata: checkpoint.metadata,
  };
}
