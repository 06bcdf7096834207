// Weights from any supported file, with the naming scheme resolved: what `--weights` reads
// everywhere and what `csnc import` converts.
import { readCheckpoint, type Checkpoint } from "./checkpoint.js";
import { CsncError, RuntimeCodes } from "./errors.js";
import { detectNaming, namingEps, namings, type Naming } from "./naming.js";
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

// model_parameters as `csnc import` records it: {name: {type, value}}, read back as --set values.
function checkParameters(text: string, file: string) {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    record = undefined;
  }
  const valid = (v: unknown) => {
    if (typeof v !== "object" || v === null) return false;
    const { type, value } = v as { type?: unknown; value?: unknown };
    switch (type) {
      case "int":
        return Number.isSafeInteger(value);
      case "float":
        return typeof value === "number" && Number.isFinite(value);
      case "bool":
        return typeof value === "boolean";
      case "string":
      case "enum":
        return typeof value === "string";
      case "dims":
        return Array.isArray(value) && value.every((d) => Number.isSafeInteger(d));
      default:
        return false;
    }
  };
  if (
    typeof record !== "object" ||
    record === null ||
    Array.isArray(record) ||
    !Object.values(record).every(valid)
  )
    throw new CsncError(
      RuntimeCodes.badFile,
      `${file}: its metadata's model_parameters is not a record of model parameters as csnc import writes them (${text.length > 80 ? text.slice(0, 80) + "..." : text})`,
    );
}

/** The tensors of a safetensors file or PyTorch checkpoint; `file` names it in errors. */
export function loadWeights(
  bytes: Uint8Array,
  file: string,
  naming: Naming | "auto" = "auto",
): LoadedWeights {
  const checkpoint = readCheckpoint(bytes, file);
  let tensors = checkpoint.tensors;
  // The metadata steers the naming and BN epsilon: values csnc did not write are refused here
  // rather than failing later.
  const fromMetadata = checkpoint.metadata.csnc_naming as Naming | undefined;
  if (naming === "auto" && fromMetadata !== undefined && !namings.includes(fromMetadata))
    throw new CsncError(
      RuntimeCodes.badFile,
      `${file}: its metadata names the scheme ${JSON.stringify(fromMetadata).slice(0, 80)}, not one of ${namings.join(", ")}`,
    );
  const metaEps = checkpoint.metadata.bn_eps;
  if (metaEps !== undefined && !(Number(metaEps) > 0 && Number(metaEps) < 1))
    throw new CsncError(
      RuntimeCodes.badFile,
      `${file}: its metadata gives the BN epsilon ${JSON.stringify(metaEps).slice(0, 80)}, not a number between 0 and 1`,
    );
  if (checkpoint.metadata.model_parameters !== undefined)
    checkParameters(checkpoint.metadata.model_parameters, file);
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
  const eps = metaEps !== undefined ? Number(metaEps) : namingEps[resolved];
  return {
    tensors,
    naming: resolved,
    detected: naming === "auto",
    bnEps: eps,
    format: checkpoint.format,
    metadata: checkpoint.metadata,
  };
}
