// What onnxruntime is given for a model version — the model file's bytes (an XGBoost model converted
// to ONNX first), rewritten by the optimiser when the config and the server allow it — shared by
// serving (core.ts) and `modelserve check`. The converter and the optimiser, and the protobuf
// library they use, load only for a model that needs them.
import { isXgboostJson } from '../config/load.js';
import type { ModelConfig } from '../config/types.js';
import { mayOptimize } from '../optimize/probe.js';
import { foreignModelReason } from '../xgboost/format.js';
import type { OptimizationSummary } from './servable.js';
import { readUserFile, UserFileError, unreadableReason } from '../user-file.js';

/**
 * Why a model's bytes could not be had: the file could not be read, it was refused unread ('file':
 * not a regular file or too large; the message follows the file's name: "is not a regular file (a FIFO)"),
 * or (read by the optimiser) it is not a valid ONNX model.
 */
export class ModelBytesError extends Error {
  constructor(readonly stage: 'read' | 'file' | 'parse', message: string) {
    super(message);
  }
}

export async function readModelBytes(config: Pick<ModelConfig, 'modelFile' | 'format' | 'optimize'>, optimize: boolean): Promise<{ bytes: Uint8Array; optimization?: OptimizationSummary }> {
  // An XGBoost model.json without `format: xgboost` would be "protobuf parsing failed" from onnxruntime.
  if (config.format !== 'xgboost' && config.modelFile.endsWith('.json') && isXgboostJson(config.modelFile)) {
    throw new ModelBytesError('parse', 'it is an XGBoost JSON model: add format: xgboost to the config');
  }
  let bytes: Uint8Array;
  // The converter is loaded only for XGBoost models.
  const xgboost = config.format === 'xgboost' ? await import('../xgboost/load.js') : undefined;
  try {
    bytes = xgboost ? xgboost.readModelBytes(config) : readUserFile(config.modelFile, 'model');
  } catch (err) {
    if (err instanceof UserFileError) throw new ModelBytesError('file', err.reason);
    // Its message names the file, which the caller names too: the reason alone follows it.
    if (xgboost && err instanceof xgboost.XgboostFileError) throw new ModelBytesError('file', err.reason);
    throw new ModelBytesError('read', unreadableReason(err));
  }
  // onnxruntime would say only "protobuf parsing failed" of an XGBoost binary model or a pickle.
  const foreign = xgboost ? undefined : foreignModelReason(bytes);
  if (foreign) throw new ModelBytesError('parse', foreign);
  // The optimiser's protobuf library is loaded only for models that may hold an operator it rewrites.
  if (!optimize || !config.optimize || !mayOptimize(bytes)) return { bytes };
  try {
    const { optimizeModel } = await import('../optimize/index.js');
    const result = optimizeModel(bytes);
    return { bytes: result.changed ? result.bytes : bytes, optimization: { changed: result.changed, rewrites: result.rewrites, skipped: result.skipped } };
  } catch (err) {
    // The optimiser parses the protobuf: a file it cannot read is corrupt.
    throw new ModelBytesError('parse', (err as Error).message);
  }
}
