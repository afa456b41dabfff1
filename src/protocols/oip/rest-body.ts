// The OIP REST inference body: a JSON request object, optionally followed by binary tensor data
// (Triton's binary tensor extension: Inference-Header-Content-Length gives the JSON's length,
// inputs carry parameters.binary_data_size, outputs ask for binary_data / binary_data_output).
import { isUtf8 } from 'node:buffer';
import { utf8BomLength } from '../json-body.js';
import { badTensor, checkDatatype, noInputs, elementSize, exactJsonData, fromBytes, fromJsonData, MAX_ELEMENTS, toBytes, toJsonData, type Datatype, type OipTensor } from './tensors.js';
import { classificationCount } from './codec.js';

export type Parameters = Record<string, unknown>;

export interface RestInferRequest {
  id?: string;
  parameters?: Parameters;
  inputs: OipTensor[];
  /** Requested outputs with whether each is wanted as binary data, and how many classes (classification extension). */
  outputs?: Array<{ name: string; binary: boolean; classification?: number }>;
  /** binary_data_output: every output binary unless it says otherwise. */
  binaryDefault: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parameters(where: string, value: unknown): Parameters | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw badTensor(`${where}: parameters must be an object`);
  return value;
}

/** What a raw binary request needs to know of the model: its inputs as Triton's config declares them. */
export interface RawBinaryModel {
  name: string;
  batched: boolean;
  input: ReadonlyArray<{ name: string; datatype: Datatype; dims: readonly number[] }>;
}

const RAW = 'raw binary request (Inference-Header-Content-Length: 0)';

/**
 * Triton's raw binary request: no JSON header, the whole body is the data of the model's only
 * input. Its shape is the config's dims (with a batch dimension of 1 when the model is batched),
 * the one variable dimension, if any, deduced from the body's size; a BYTES input must be of
 * shape [1] and the body is its one element. Every output is returned as binary data.
 */
export function parseRawBinaryBody(body: Uint8Array, model: RawBinaryModel): RestInferRequest {
  if (model.input.length !== 1) {
    const names = model.input.map((i) => i.name).slice(0, 8).join(', ');
    throw badTensor(`a ${RAW} needs a model with exactly one input; model '${model.name}' has ${model.input.length} (${names}${model.input.length > 8 ? ', …' : ''}): send a JSON inference header`);
  }
  const input = model.input[0]!;
  const variable = input.dims.filter((d) => d < 0).length;
  const fixed = input.dims.reduce((n, d) => (d < 0 ? n : n * d), 1);
  const batch = model.batched ? [1] : [];
  if (input.datatype === 'BYTES') {
    if (variable > 0 || fixed !== 1) throw badTensor(`input '${input.name}': a ${RAW} with a BYTES input needs the input's shape to be [1], but it is [${input.dims.join(', ')}]`);
    // The body is the one element: give it the 4-byte length of the binary layout.
    const element = Buffer.allocUnsafe(4 + body.byteLength);
    element.writeUInt32LE(body.byteLength, 0);
    element.set(body, 4);
    return { inputs: [fromBytes(input.name, 'BYTES', [...batch, ...input.dims], element, 'the raw binary body')], binaryDefault: true };
  }
  if (variable > 1) throw badTensor(`input '${input.name}': the shape of a ${RAW} cannot be deduced: the input's shape [${input.dims.join(', ')}] has more than one variable dimension; send a JSON inference header`);
  if (body.byteLength === 0) throw badTensor(`input '${input.name}': the ${RAW} has an empty body`);
  const size = elementSize(input.datatype);
  const unit = fixed * size;
  if (unit === 0 || body.byteLength % unit !== 0) {
    throw badTensor(`input '${input.name}': the raw binary body is ${body.byteLength} bytes, not a multiple of ${unit} (${input.datatype} elements of ${size} bytes${input.dims.length > 0 ? ` in shape [${input.dims.join(', ')}]` : ''})`);
  }
  const shape = [...batch, ...input.dims.map((d) => (d < 0 ? body.byteLength / unit : d))];
  if (body.byteLength / size > MAX_ELEMENTS) throw badTensor(`input '${input.name}': the raw binary body holds more than ${MAX_ELEMENTS} elements`);
  return { inputs: [fromBytes(input.name, input.datatype, shape, body, `the raw binary body (batch of 1, shape [${shape.join(', ')}])`)], binaryDefault: true };
}

/**
 * Parses an inference body. `headerLength` is the Inference-Header-Content-Length header (undefined:
 * the whole body is JSON; 0: a raw binary request, for which `rawModel` describes the model).
 * Sizes are checked before anything is read: a header length past the body, a binary section
 * shorter or longer than the inputs declare.
 */
export function parseInferBody(body: Uint8Array, headerLength: string | undefined, rawModel?: () => RawBinaryModel): RestInferRequest {
  let jsonEnd = body.byteLength;
  if (headerLength !== undefined) {
    if (!/^[0-9]{1,15}$/.test(headerLength)) throw badTensor(`Inference-Header-Content-Length '${headerLength.slice(0, 20)}' is not a byte count`);
    jsonEnd = Number(headerLength);
    if (jsonEnd === 0) {
      if (rawModel === undefined) throw badTensor('Inference-Header-Content-Length: 0 (a request without a JSON header) is not supported here; send the JSON inference header before the binary data');
      return parseRawBinaryBody(body, rawModel());
    }
    if (jsonEnd > body.byteLength) throw badTensor(`Inference-Header-Content-Length (${jsonEnd}) is past the end of the body (${body.byteLength} bytes)`);
  }
  if (body.byteLength === 0) throw badTensor('the request body is empty; expected an inference request: a JSON object with "inputs"');
  const json = Buffer.from(body.buffer, body.byteOffset, jsonEnd);
  // JSON is UTF-8: decoding other bytes would put U+FFFD into BYTES data and serve it (the JSON
  // routes, binary BYTES elements and gRPC's bytes_contents all refuse such bytes).
  if (!isUtf8(json)) throw badTensor(`the inference request's JSON${headerLength === undefined ? '' : ' header'} is not valid UTF-8`);
  let header: unknown;
  try {
    // A leading byte-order mark is dropped, as the JSON rows routes drop it.
    header = JSON.parse(json.toString('utf8', utf8BomLength(json)));
  } catch (err) {
    throw badTensor(`the inference request is not valid JSON: ${(err as Error).message.slice(0, 200)}${headerLength === undefined ? ' (binary data needs the Inference-Header-Content-Length header)' : ''}`);
  }
  if (!isObject(header)) throw badTensor('the inference request must be a JSON object with "inputs"');
  const { id, inputs, outputs } = header;
  if (id !== undefined && typeof id !== 'string') throw badTensor('"id" must be a string');
  const requestParameters = parameters('the request', header.parameters);
  if (!Array.isArray(inputs) || inputs.length === 0) throw noInputs();
  let offset = jsonEnd;
  const tensors: OipTensor[] = inputs.map((input: unknown, index) => {
    if (!isObject(input) || typeof input.name !== 'string') throw badTensor(`inputs[${index}] must be an object with a string "name"`);
    const name = input.name;
    const datatype = checkDatatype('input', name, input.datatype);
    if (!Array.isArray(input.shape)) throw badTensor(`input '${name}': "shape" must be an array`);
    const shape = input.shape as number[];
    const size = parameters(`input '${name}'`, input.parameters)?.binary_data_size;
    if (size === undefined) return fromJsonData(name, datatype, shape, input.data);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw badTensor(`input '${name}': binary_data_size must be a non-negative integer`);
    if (input.data !== undefined) throw badTensor(`input '${name}': has both "data" and binary_data_size`);
    if (offset + size > body.byteLength) {
      throw badTensor(`input '${name}': binary_data_size ${size} is past the end of the body (${body.byteLength - offset} bytes of binary data left): truncated binary section`);
    }
    const bytes = body.subarray(offset, offset + size);
    offset += size;
    return fromBytes(name, datatype, shape, bytes);
  });
  if (offset !== body.byteLength) throw badTensor(`the body has ${body.byteLength - offset} bytes after the JSON header and the inputs' binary data`);
  const binaryOutput = requestParameters?.binary_data_output;
  if (binaryOutput !== undefined && typeof binaryOutput !== 'boolean') throw badTensor('parameters.binary_data_output must be true or false');
  const binaryDefault = binaryOutput === true;
  let requested: RestInferRequest['outputs'];
  if (outputs !== undefined) {
    if (!Array.isArray(outputs)) throw badTensor('"outputs" must be an array');
    requested = outputs.map((o: unknown, index) => {
      if (!isObject(o) || typeof o.name !== 'string') throw badTensor(`outputs[${index}] must be an object with a string "name"`);
      const p = parameters(`output '${o.name}'`, o.parameters);
      const binary = p?.binary_data;
      if (binary !== undefined && typeof binary !== 'boolean') throw badTensor(`output '${o.name}': parameters.binary_data must be true or false`);
      const classification = classificationCount(o.name, p);
      return { name: o.name, binary: binary ?? binaryDefault, ...(classification === undefined ? {} : { classification }) };
    });
  }
  return { id, parameters: requestParameters, inputs: tensors, outputs: requested, binaryDefault };
}

/** The response: JSON, or JSON then the binary outputs (headerLength set) when any output is binary. */
export function inferResponseBody(
  head: { model_name: string; model_version: string; id?: string },
  outputs: readonly OipTensor[],
  request: Pick<RestInferRequest, 'outputs' | 'binaryDefault'>,
): { body: Buffer; headerLength?: number } {
  // Only requested outputs say per output; else every output follows binary_data_output.
  const binaryOf = request.outputs === undefined ? undefined : new Map(request.outputs.map((o) => [o.name, o.binary]));
  const chunks: Uint8Array[] = [];
  let exact = false;
  const described = outputs.map((t) => {
    if (binaryOf?.get(t.name) ?? request.binaryDefault) {
      const bytes = toBytes(t);
      chunks.push(bytes);
      return { name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: bytes.byteLength } };
    }
    const digits = exactJsonData(t);
    if (digits !== undefined) exact = true;
    return { name: t.name, datatype: t.datatype, shape: t.shape, data: digits ?? toJsonData(t) };
  });
  const text = exact ? withExactData(head, described) : JSON.stringify({ ...head, outputs: described });
  if (chunks.length === 0) return { body: Buffer.from(text, 'utf8') };
  // The JSON written straight into the answer's one buffer (no JSON buffer, then a concatenated copy).
  const jsonLength = Buffer.byteLength(text, 'utf8');
  let total = jsonLength;
  for (const c of chunks) total += c.byteLength;
  const body = Buffer.allocUnsafe(total);
  body.write(text, 0, 'utf8');
  let offset = jsonLength;
  for (const c of chunks) {
    body.set(c, offset);
    offset += c.byteLength;
  }
  return { body, headerLength: jsonLength };
}

/** The response's JSON when some output's data is already JSON text (exact 64-bit integers): spliced in as is. */
function withExactData(head: Record<string, unknown>, described: Array<{ data?: unknown }>): string {
  const outputs = described.map(({ data, ...rest }) => (typeof data === 'string' ? `${JSON.stringify(rest).slice(0, -1)},"data":${data}}` : JSON.stringify({ ...rest, data })));
  return `${JSON.stringify(head).slice(0, -1)},"outputs":[${outputs.join(',')}]}`;
}
