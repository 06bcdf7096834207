// The one catalog of error codes, for every stage from the text to the device. Each code is
// declared once here, under its stage; the views the stages use (`Codes` for the compiler's
// diagnostics, `RuntimeCodes` for the runtime's errors) are derived from it. It lives in the
// lowest layer, imports nothing, and is bundled into generated modules, so it stays plain data.

/**
 * Codes by stage, numbered by stage: 10xx syntax, 11xx imports, 20xx names and types, 30xx
 * shapes, 31xx plans (what the device's limits allow), 40xx weights, 41xx devices, 42xx
 * tuning files, 43xx the job queue (csnc queue, csnc worker), 44xx training data (csnc data,
 * csnc train --data), 45xx training (csnc grad, csnc train).
 */
export const catalog = {
  syntax: {
    lexError: 1001,
    syntaxError: 1002,
    notText: 1003,
    nestingTooDeep: 1004,
    tooManyErrors: 1005,
    fileTooLarge: 1006,
  },
  imports: {
    importNotFound: 1101,
    importOutsideProject: 1102,
  },
  names: {
    duplicateName: 2001,
    unknownName: 2002,
    unknownLayer: 2003,
    unknownParam: 2004,
    missingArgument: 2005,
    duplicateArgument: 2006,
    tooManyArguments: 2007,
    typeMismatch: 2008,
    badValue: 2009,
    recursion: 2010,
    noModel: 2011,
    unknownType: 2012,
    tooLarge: 2013,
    missingInput: 2014,
  },
  shapes: {
    channelMismatch: 3001,
    groupsDontDivide: 3002,
    residualMismatch: 3003,
    windowTooLarge: 3004,
    dimensionZero: 3005,
    tensorTooLarge: 3007,
  },
  plan: {
    beyondDeviceLimits: 3101,
  },
  weights: {
    badFile: 4001,
    missingTensor: 4002,
    badInput: 4005,
  },
  devices: {
    noAdapter: 4101,
    deviceLost: 4102,
    outOfMemory: 4103,
    gpuError: 4104,
    tooLarge: 4105,
    /** The plan needs a device feature the adapter lacks (`--precision f16`: shader-f16). */
    missingFeature: 4106,
  },
  tuning: {
    badTuning: 4201,
  },
  queue: {
    queueUnreachable: 4301,
    queueAuth: 4302,
    badManifest: 4303,
    refusedJob: 4304,
    changedInput: 4305,
  },
  trainingData: {
    /** A data set file (input and labels tensors) that is not what training reads. */
    badDataset: 4401,
    /** A label out of the model's classes, negative or not an integer. */
    badLabels: 4402,
    /** A video list (CSV of path,label rows) that cannot be read. */
    badVideoList: 4403,
    /** Synthetic data options out of range (in-process callers; the CLI reports usage). */
    badSynth: 4404,
  },
  training: {
    /** A network csnc cannot train (a layer without a backward kernel, logits of another shape). */
    untrainable: 4501,
    /** --freeze naming no layer, a resume checkpoint of another run. */
    badTrainOption: 4502,
    /** The loss became NaN or infinite: training stopped, the last good state saved. */
    diverged: 4503,
    /** A training checkpoint that cannot be resumed from. */
    badCheckpoint: 4504,
  },
} as const;

export type Stage = keyof typeof catalog;

/** The compiler's codes, text to plan: what `Diagnostic.code` holds. */
export const Codes = {
  ...catalog.syntax,
  ...catalog.imports,
  ...catalog.names,
  ...catalog.shapes,
  ...catalog.plan,
} as const;

/** The runtime's codes, weights, devices and tuning files: what `CsncError.code` holds. */
export const RuntimeCodes = { ...catalog.weights, ...catalog.devices, ...catalog.tuning } as const;

/** The code of a plan that does not fit the device's limits (`PlanError`). */
export const planErrorCode = catalog.plan.beyondDeviceLimits;
