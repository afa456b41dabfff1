// Checks a config against the model's real signature (from the loaded session): every config
// input is a real ONNX input of a compatible element type and width, every ONNX input is fed,
// and every output a response field reads from exists. Returns problems as "key.path: message".
import type { ModelConfig } from './types.js';
import type { ElementType, ModelSignature, TensorInfo } from '../runtime/types.js';
import { TENSOR_RANGE } from '../validation/request-validator.js';

// What a config's fields can be encoded into (the JSON API's types).
export const SUPPORTED: ReadonlySet<string> = new Set(['float32', 'float64', 'int32', 'int64', 'string', 'bool']);
const NUMERIC: ReadonlySet<string> = new Set(['float32', 'float64', 'int32', 'int64']);
// What a raw model's tensors can be, over the Open Inference Protocol, and what any output can be
// returned as: every element type onnxruntime-node's Tensor carries but float16 (OIP FP16, which
// modelserve refuses) and the 4-bit ones. (bfloat16 is not even described by onnxruntime-node.)
export const CARRIED: ReadonlySet<string> = new Set<ElementType>(['float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'string', 'bool']);
// What a `column:` output can read: every carried type but string. Each is answered as a number,
// exact for all of them but a 64-bit integer past ±(2^53 - 1), which a request is refused for
// (src/response/decode.ts exactNumber).
const COLUMN_SOURCES: ReadonlySet<string> = new Set([...CARRIED].filter((type) => type !== 'string'));

/** The fixed width of a [N, k] tensor (k), 1 for [N], undefined when not fixed or the graph declares no shape (fed [N, k] for k fields). */
export function rowWidth(info: TensorInfo): number | undefined {
  if (info.shapeDeclared === false) return undefined;
  if (info.shape.length <= 1) return 1;
  let width = 1;
  for (const dim of info.shape.slice(1)) {
    if (typeof dim !== 'number' || dim < 0) return undefined;
    width *= dim;
  }
  return width;
}

export function checkSignature(config: ModelConfig, signature: ModelSignature): string[] {
  const problems: string[] = [];
  const inputs = new Map(signature.inputs.map((i) => [i.name, i]));
  const outputs = new Map(signature.outputs.map((o) => [o.name, o]));
  const list = (m: Map<string, TensorInfo>) => [...m.keys()].map((k) => `'${k}'`).join(', ');
  const fieldType = new Map(config.fields.map((f) => [f.name, f.type]));

  for (const tensor of config.tensors) {
    const info = inputs.get(tensor.name);
    if (!info) {
      problems.push(`inputs.${tensor.name}: the model has no input '${tensor.name}' (its inputs: ${list(inputs)})`);
      continue;
    }
    if (!SUPPORTED.has(info.type)) {
      problems.push(`inputs.${tensor.name}: the model's input has element type ${info.type}, which modelserve cannot feed`);
      continue;
    }
    if (tensor.type && tensor.type !== info.type) {
      problems.push(`inputs.${tensor.name}.type: is ${tensor.type} but the model's input '${tensor.name}' is ${info.type}`);
    }
    const rowsDim = info.shape[0];
    if (typeof rowsDim === 'number' && rowsDim > 1) {
      // The rows go along the first dimension: a graph taking exactly k of them (a transposed
      // [features, N] input, a single unbatched row [k]) failed in onnxruntime's words at warm-up.
      problems.push(`inputs.${tensor.name}: the model's input has shape [${info.shape.join(', ')}], whose first dimension (the rows of a request) is fixed at ${rowsDim}; modelserve feeds the rows along the first dimension, so it must be variable (or 1, a static-shape export run one row at a time): export the model with the batch first`);
    }
    if (info.shape.length > 2 && rowWidth(info) === undefined) {
      problems.push(`inputs.${tensor.name}: the model's input has shape [${info.shape.join(', ')}]; only [N] and [N, k] inputs can be fed from fields`);
    }
    const width = rowWidth(info);
    if (width !== undefined && width !== tensor.fields.length) {
      problems.push(`inputs.${tensor.name}.fields: lists ${tensor.fields.length} field(s) but the model's input '${tensor.name}' has width ${width} (shape [${info.shape.join(', ')}])`);
    }
    if (info.shape.length === 1 && tensor.fields.length !== 1) {
      problems.push(`inputs.${tensor.name}.fields: the model's input '${tensor.name}' is 1-D, so it takes exactly one field`);
    }
    if (tensor.scale && (info.type === 'int32' || info.type === 'int64')) {
      // The scaled values are fractions: an int64 input was fed them unscaled, an int32 one truncated.
      problems.push(`inputs.${tensor.name}.scale: the model's input '${tensor.name}' is ${info.type}, which cannot hold scaled values; scale applies to float32 and float64 inputs`);
    }
    tensor.fields.forEach((name, i) => {
      const type = fieldType.get(name);
      const ok = info.type === 'string' || (info.type === 'bool' ? type === 'boolean' : NUMERIC.has(info.type) && type !== 'string');
      if (!ok) problems.push(`inputs.${tensor.name}.fields.${i}: field '${name}' is ${type} but the model's input '${tensor.name}' is ${info.type}`);
      // The request validator bounds the field by what the input holds, and a default fills in before it
      // checks: a default past those bounds made every request that left the field out a 422.
      const range = TENSOR_RANGE[info.type as ElementType];
      if (range === undefined) return;
      const field = config.fields.find((f) => f.name === name);
      const past = (value: unknown): value is number => typeof value === 'number' && (value < range[0] || value > range[1]);
      const holds = `what the model's ${info.type} input '${tensor.name}' holds (${range[0]} to ${range[1]})`;
      // Bounds wholly past the input left no value a request could send (and the load blamed the example row built from them).
      if (typeof field?.minimum === 'number' && field.minimum > range[1]) problems.push(`fields.${name}.minimum: is ${field.minimum}, above ${holds}: no request can send the field`);
      if (typeof field?.maximum === 'number' && field.maximum < range[0]) problems.push(`fields.${name}.maximum: is ${field.maximum}, below ${holds}: no request can send the field`);
      if (past(field?.default)) problems.push(`fields.${name}.default: is ${field.default}, outside ${holds}: every request that leaves the field out would be refused`);
      // The example row is sent at load: past the input it was refused as 'the fields' examples do not form a valid request'.
      if (past(field?.example)) problems.push(`fields.${name}.example: is ${field.example}, outside ${holds}: the example row (the load's warm-up, the documented request) would be refused`);
      // The validator refuses such a value before the encoder sees it (it would wrap around there), so
      // OpenAPI offered a choice its own maximum refused: one more case of a default's.
      field?.enum?.forEach((value, i) => {
        if (past(value)) problems.push(`fields.${name}.enum.${i}: is ${value}, outside ${holds}: no request can send it`);
      });
    });
  }
  for (const name of inputs.keys()) {
    const unpassable = unpassableName('input', name);
    if (unpassable) problems.push(`inputs: ${unpassable}`);
    else if (!config.tensors.some((t) => t.name === name)) problems.push(`inputs: the model's input '${name}' is not fed (add inputs.${name})`);
  }
  // Every run fetches through one JavaScript object of outputs: a '__proto__' output fails them all, read or not.
  if (outputs.has('__proto__') && !config.outputs.some((o) => o.from === '__proto__')) problems.push(`outputs: ${unpassableName('output', '__proto__')}`);
  for (const out of config.outputs) {
    const info = outputs.get(out.from);
    if (!info) {
      problems.push(`outputs.${out.field}.from: the model has no output '${out.from}' (its outputs: ${list(outputs)})`);
      continue;
    }
    const unpassable = unpassableName('output', out.from);
    if (unpassable) {
      problems.push(`outputs.${out.field}.from: ${unpassable}`);
      continue;
    }
    if (!CARRIED.has(info.type)) {
      problems.push(`outputs.${out.field}.from: the model's output '${out.from}' has element type ${info.type}, which modelserve cannot return (supported: ${[...CARRIED].join(', ')})`);
      continue;
    }
    if (out.kind === 'column') {
      const width = rowWidth(info);
      if (width !== undefined && out.column >= width) problems.push(`outputs.${out.field}.column: is ${out.column} but output '${out.from}' has ${width} column(s)`);
      if (!COLUMN_SOURCES.has(info.type)) problems.push(`outputs.${out.field}.column: output '${out.from}' is ${info.type}, not numeric`);
    }
  }
  return problems;
}

/**
 * What loads but reads as a config mistake, as "key.path: message": a `type: number` field feeding an
 * int32/int64 input, whose fraction the encoder truncates (0.5 reaches the model as 0) whatever `lax`
 * says, and which OpenAPI documents as a number. Warnings, not problems: such configs load as before.
 */
export function signatureWarnings(config: ModelConfig, signature: ModelSignature): string[] {
  const numbers = new Set(config.fields.filter((f) => f.type === 'number').map((f) => f.name));
  const warned = new Set<string>();
  const warnings: string[] = [];
  for (const tensor of config.tensors) {
    const type = signature.inputs.find((i) => i.name === tensor.name)?.type;
    if (type !== 'int32' && type !== 'int64') continue;
    for (const name of tensor.fields) {
      if (!numbers.has(name) || warned.has(name)) continue;
      warned.add(name);
      warnings.push(`fields.${name}.type: is number, but the field feeds the model's ${type} input '${tensor.name}', which takes whole numbers: a fraction reaches the model cut to its whole part (0.5 as 0), even with lax: false; say type: integer (then lax, the default, cuts 84.9 to 84 as pydantic 1 did, and lax: false refuses it with a 422)`);
    }
  }
  return warnings;
}

/** A tensor's name in a message: quoted as JSON when it holds control characters (a newline), which '…' would not show. */
const nameSaid = (name: string): string => ([...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f) ? JSON.stringify(name) : `'${name}'`);

/** Why a tensor whose name holds a NUL cannot be passed by it: onnxruntime takes names as C strings, which end at the first NUL. */
function nulNameProblem(kind: 'input' | 'output', name: string): string {
  return `the model's ${kind} ${nameSaid(name)} cannot be passed by name: onnxruntime reads a name only up to its first NUL character, so it would look for ${nameSaid(name.slice(0, name.indexOf('\0')))}; rename it in the graph`;
}

/**
 * Why a configured model's input, or an output a response field reads, cannot be passed by its name
 * (see tensorNameProblems); undefined when it can. An unread output of a NUL name is never fetched, so it does no harm.
 */
function unpassableName(kind: 'input' | 'output', name: string): string | undefined {
  if (name === '__proto__') return `the model's ${kind} '__proto__' cannot be passed by name: onnxruntime-node's JavaScript objects of ${kind}s read that key as their prototype; rename it in the graph`;
  if (name.includes('\0')) return nulNameProblem(kind, name);
  return undefined;
}

/**
 * Names a raw model's tensors cannot be served by: every front door passes a tensor by its name.
 * onnxruntime refuses to run an input of an empty name ("input name cannot be empty"); '__proto__' as a key of onnxruntime-node's feeds and
 * results objects sets their prototype instead ("Tensor.dims must be an array"); onnxruntime reads a
 * name as a C string, so one holding a NUL is cut there ("Invalid input name: a" for "a\0b"); an
 * output listed twice would be answered twice, and a request naming it is refused as asking for it twice.
 */
function tensorNameProblems(kind: 'input' | 'output', tensors: readonly TensorInfo[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  tensors.forEach(({ name }, i) => {
    if (name === '') problems.push(`${kind}s: the model's ${kind} ${i + 1} (of ${tensors.length}) has an empty name; every ${kind} is passed by its name, so give it one in the graph`);
    else if (unpassableName(kind, name)) problems.push(`${kind}s: ${unpassableName(kind, name)}`);
    else if (seen.has(name)) problems.push(`${kind}s: the model lists its ${kind} ${nameSaid(name)} more than once; each ${kind} is passed by its name, so list it once`);
    seen.add(name);
  });
  return problems;
}

/** A raw model (no config): every input must be a tensor of an element type modelserve can feed, and every tensor have a name it can be passed by. */
export function checkRawSignature(signature: ModelSignature): string[] {
  const problems: string[] = [...tensorNameProblems('input', signature.inputs), ...tensorNameProblems('output', signature.outputs)];
  const supported = [...CARRIED].join(', ');
  for (const input of signature.inputs) {
    if (!CARRIED.has(input.type)) problems.push(`inputs.${input.name}: the model's input has element type ${input.type}, which modelserve cannot feed (supported: ${supported})`);
  }
  if (!signature.outputs.some((o) => CARRIED.has(o.type))) {
    problems.push(`outputs: the model has no tensor output of a supported element type (its outputs: ${signature.outputs.map((o) => `'${o.name}' ${o.type}`).join(', ')}; supported: ${supported})`);
  }
  return problems;
}

/** The outputs of a raw model that are served: tensors of a supported element type. */
export function rawOutputs(signature: ModelSignature): TensorInfo[] {
  return signature.outputs.filter((o) => CARRIED.has(o.type));
}

/**
 * Whether a raw model has a batch dimension, as Triton's max_batch_size > 0 means: every input has a
 * variable first dimension (the rows; one name when the graph names them), every served output
 * a declared, variable first dimension (so each request's rows can be cut back out), and no op of
 * its graph may mix rows (signature.rowsMixed). /config says so, and only such a model's requests
 * share runs — those whose other dimensions match (sameRowShape).
 */
export function rawBatchable(signature: ModelSignature): boolean {
  if (signature.rowsMixed !== undefined) return false;
  const inputs = signature.inputs;
  if (inputs.length === 0 || !inputs.every((i) => i.shapeDeclared !== false && i.shape.length >= 1 && (typeof i.shape[0] !== 'number' || i.shape[0] < 0))) return false;
  // First dimensions the graph names differently (N and M) are not one batch dimension.
  const named = new Set(inputs.map((i) => i.shape[0]).filter((d) => typeof d === 'string' && d !== ''));
  if (named.size > 1) return false;
  // An output of a fixed first dimension (a constant [3]), a scalar, or no declared shape is not one entry per row.
  return rawOutputs(signature).every((o) => o.shapeDeclared !== false && o.shape.length >= 1 && (typeof o.shape[0] !== 'number' || o.shape[0] < 0));
}

/** Whether a raw model's inputs have a variable dimension past the first ([N, M]): requests then share a run only with those of the same shape past the rows. */
export function rawRowShapeVaries(signature: ModelSignature): boolean {
  return signature.inputs.some((i) => rowWidth(i) === undefined);
}
