// serve warms every model version at load (core.ts loadVersion) and refuses to start when that run
// fails: a graph that loads but cannot run — a shape mismatch inside it, a wrong input width. The
// check runs the same input through the same steps, so that it fails where serve would.
import { ModelServeError } from '../errors.js';
import { rawOutputs } from '../config/signature.js';
import type { ModelConfig } from '../config/types.js';
import { exampleFeeds } from '../core/model-version.js';
import { compileDecoder, neededOutputs } from '../response/decode.js';
import { compileSerializers } from '../response/serialize.js';
import { errorText, runSession, type OrtSession } from '../runtime/session.js';
import type { ModelSignature, NamedTensors } from '../runtime/types.js';
import { compileEncoder } from '../tensors/encode.js';
import type { Row } from '../validation/request-validator.js';
import type { ModelProblem } from './problems.js';

/** One line for the problem list (onnxruntime's messages may span lines and end in a newline). */
function oneLine(text: string): string {
  return text.trim().replace(/\s*\n\s*/g, ' ');
}

/**
 * Runs serve's warm-up once on `session`: for a raw model its example feeds (one row of zeros /
 * empty strings) fetching every tensor output; else `exampleRows` (the config's example row,
 * validated; undefined for a raw model) through encode -> run -> decode -> serialize. Returns its
 * failure as an error at '(model)' of the config file (for a raw model, its .onnx file), or a
 * warning for what does not keep serve from loading: an answer JSON cannot carry exactly.
 */
export async function warmUpProblems(config: ModelConfig, signature: ModelSignature, session: OrtSession, exampleRows: readonly Row[] | undefined): Promise<ModelProblem[]> {
  const raw = config.kind === 'raw';
  const input = raw ? 'one row of zeros / empty strings' : "the example row (the fields' examples, defaults)";
  const problem = (what: string): ModelProblem => ({ file: config.configFile, key: '(model)', message: `serve's load-time warm-up run on ${input} ${what}`, severity: 'error' });
  // (An example row that is not a valid request is reported by the caller; serve stops there too.)
  if (!raw && exampleRows === undefined) return [];
  const rows = exampleRows ?? [];
  let feeds: NamedTensors | undefined;
  try {
    feeds = raw ? exampleFeeds(signature) : compileEncoder(config, signature)([...rows]);
  } catch (err) {
    return [problem(`cannot be encoded: ${oneLine(errorText(err))}`)];
  }
  // A raw model with an input of no declared shape: serve runs no warm-up either.
  if (feeds === undefined) return [];
  let outputs: NamedTensors;
  try {
    outputs = await runSession(config.name, session, feeds, raw ? rawOutputs(signature).map((o) => o.name) : neededOutputs(config));
  } catch (err) {
    // runSession prefixes the model's name; onnxruntime's own message is the cause.
    const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
    return [problem(`fails in onnxruntime: ${oneLine(errorText(cause))}`)];
  }
  if (raw) return []; // serve answers a raw model with its tensors as they are: nothing to decode
  try {
    compileSerializers(config).many(compileDecoder(config)(outputs, rows.length));
  } catch (err) {
    // An output past what a JSON number carries exactly fails that request only (serve loads the model).
    if (err instanceof ModelServeError && err.code === 'MS_ERR_OUTPUT_RANGE') {
      return [{ ...problem(`ran, but its answer cannot be written as JSON: ${oneLine(err.message)}; such requests get 502 on the JSON API (read the output over the Open Inference Protocol)`), severity: 'warning' }];
    }
    return [problem(`ran, but its outputs cannot be decoded into a response: ${oneLine(errorText(err))}`)];
  }
  return [];
}
