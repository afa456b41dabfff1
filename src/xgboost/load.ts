// Model files as onnxruntime takes them: an .onnx file as it is, an XGBoost JSON model
// (`format: xgboost`) converted at load (convert.ts).
import { foreignModelFormat, jsonEndsEarly } from './format.js';
import { notOnnxReason } from '../core/model-bytes.js';
import { jsonSyntaxReason, readUserFile, stripBom } from '../user-file.js';
import type { InitOptions } from '../init/init.js';
import { convertXgboost, type ConvertedModel } from './convert.js';

/** Whether init and inspect take this file for an XGBoost model (JSON, or UBJSON to be told to save JSON). */
export function isXgboostModelFile(file: string): boolean {
  return file.endsWith('.json') || file.endsWith('.ubj');
}

/**
 * A model file that is not an XGBoost JSON model modelserve can convert. `message` names the file
 * (convert, inspect and init print it as it is); `reason` follows the file's name where the caller
 * names the file itself (serve and check: "<file> is not an XGBoost JSON model: …").
 */
export class XgboostFileError extends Error {
  /** `reasonForClients`: the reason as API clients read it, without the text JSON.parse quotes of the file (jsonSyntaxReason). */
  constructor(message: string, readonly reason: string, options?: ErrorOptions, readonly reasonForClients = reason) {
    super(message, options);
  }
}

/**
 * JSON.parse, and if it fails, again with XGBoost's bare NaN read as null: XGBoost writes NaN (not
 * JSON) as the split_condition of a categorical split, and the converter's refusal then says what
 * the model holds rather than where the JSON broke.
 */
function parseModelJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const lenient = text.replace(/([[,:]\s*)-?NaN(?=\s*[,\]}])/g, '$1null');
    if (lenient === text) throw err;
    try {
      return JSON.parse(lenient);
    } catch {
      throw err;
    }
  }
}

/**
 * Whether bytes that are no JSON are an ONNX model, to be told it needs no converting: a ModelProto
 * opens with its ir_version (field 1, tag 0x08) and is neither another format nor cut short. An
 * empty file, a pickle or a text named .onnx is said to be what it is, as any other file is.
 */
function looksLikeOnnx(bytes: Uint8Array): boolean {
  return bytes[0] === 0x08 && notOnnxReason(bytes) === undefined;
}

export function convertXgboostFile(file: string): ConvertedModel {
  const bytes = readUserFile(file, 'xgboost');
  let json: unknown;
  const text = stripBom(bytes.toString('utf8'));
  try {
    json = parseModelJson(text);
  } catch (err) {
    if (file.endsWith('.onnx') && looksLikeOnnx(bytes)) {
      // The message is convert's (no config to change there); the reason follows the file in a config's problem.
      const what = 'is an ONNX model, not XGBoost\'s JSON model format';
      throw new XgboostFileError(`${file} ${what}: it needs no converting (modelserve inspect shows its inputs and outputs)`, `${what}: leave out format: xgboost`, { cause: err });
    }
    const foreign = foreignModelFormat(bytes);
    // JSON.parse's "Unexpected end of JSON input" would be followed by how to save a model.
    const cut = foreign ? undefined : jsonEndsEarly([bytes]);
    if (cut !== undefined) {
      const reason = `is cut short (${cut}): is it still being copied, or was its copy cut short?`;
      throw new XgboostFileError(`${file} ${reason}`, reason, { cause: err });
    }
    // JSON.parse quotes the text it stopped at (binary bytes and line breaks in a one-line message): for the operator only.
    const syntax = foreign || !(err instanceof SyntaxError) ? undefined : jsonSyntaxReason(err, text);
    const said = (reason: string) => `is not XGBoost's JSON model format (${reason}); ${foreign?.fix ?? "save it with model.save_model('model.json')"}`;
    const why = said(foreign ? `it is ${foreign.what}` : syntax?.message ?? (err as Error).message);
    throw new XgboostFileError(`${file} ${why}`, why, { cause: err }, syntax && said(syntax.forClients));
  }
  try {
    return convertXgboost(json);
  } catch (err) {
    const message = (err as Error).message;
    const why = message.startsWith('not an XGBoost JSON model') ? `is ${message}` : `is an XGBoost model modelserve cannot convert: ${message}`;
    throw new XgboostFileError(`${file}: ${message}`, why, { cause: err });
  }
}

/** For `modelserve init model.json`: the converted graph, feature names, and `format: xgboost`. */
export function xgboostInitOptions(file: string): Partial<InitOptions> {
  const converted = convertXgboostFile(file);
  return {
    onnx: {
      bytes: converted.bytes,
      featureNames: converted.featureNames,
      missingAllowed: true,
      configLines: [
        `format: xgboost                            # ${converted.objective}, ${converted.numFeature} features; converted to ONNX at load`,
        ...(converted.rounds ? [`# early stopping: the first ${converted.rounds.used} of ${converted.rounds.total} boosting rounds are served (best_iteration), as the scikit-learn estimator's predict() answers`] : []),
        ...(converted.missing !== undefined ? [`# missing: a value of ${converted.missing} is a missing value (the estimator's missing=), as its predict() treats it`] : []),
      ],
    },
  };
}
