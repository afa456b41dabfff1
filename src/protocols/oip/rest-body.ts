// The OIP REST inference body: a JSON request object, optionally followed by binary tensor data
// (Triton's binary tensor extension: Inference-Header-Content-Length gives the JSON's length,
// inputs carry parameters.binary_data_size, outputs ask for binary_data / binary_data_output).
import { badTensor, checkDatatype, fromBytes, fromJsonData, toBytes, toJsonData, type OipTensor } from './tensors.js';

export type Parameters = Record<string, unknown>;

export interface RestInferRequest {
  id?: string;
  parameters?: Parameters;
  inputs: OipTensor[];
  /** Requested outputs with whether each is wanted as binary data. */
  outputs?: Array<{ name: string; binary: boolean }>;
  /** binary_data_output: every output binary unless it says otherwise. */
  binaryDefault: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parameters(where: string, value: unknown): Parameters | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw badTensor(`${where}: parameters must be an object`);
  return value;
}

/**
 * Parses an inference body. `headerLength` is the Inference-Header-Content-Length header (undefined:
 * the whole body is JSON). Sizes are checked before anything is read: a header length past the
 * body, a binary section shorter or longer than the inputs declare.
 */
export function parseInferBody(body: Uint8Array, headerLength: string | undefined): RestInferRequest {
  let jsonEnd = body.byteLength;
  if (headerLength !== undefined) {
    if (!/^[0-9]{1,15}$/.test(headerLength)) throw badTensor(`Inference-Header-Content-Length '${headerLength.slice(0, 20)}' is not a byte count`);
    jsonEnd = Number(headerLength);
    if (jsonEnd === 0) throw badTensor('Inference-Header-Content-Length: 0 (a request without a JSON header) is not supported; send the JSON inference header before the binary data');
    if (jsonEnd > body.byteLength) throw badTensor(`Inference-Header-Content-Length (${jsonEnd}) is past the end of the body (${body.byteLength} bytes)`);
  }
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(body.buffer, body.byteOffset, jsonEnd).toString('utf8'));
  } catch (err) {
    throw badTensor(`the inference request is not valid JSON: ${(err as Error).message.slice(0, 200)}${headerLength === undefined ? ' (binary data needs the Inference-Header-Content-Length header)' : ''}`);
  }
  if (!isObject(header)) throw badTensor('the inference request must be a JSON object with "inputs"');
  const { id, inputs, outputs } = header;
  if (id !== undefined && typeof id !== 'string') throw badTensor('"id" must be a string');
  const requestParameters = parameters('the request', header.parameters);
  if (!Array.isArray(inputs) || inputs.length === 0) throw badTensor('"inputs" must be a non-empty array of tensors');
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
  const binaryDefault = requestParameters?.binary_data_output === true;
  let requested: RestInferRequest['outputs'];
  if (outputs !== undefined) {
    if (!Array.isArray(outputs)) throw badTensor('"outputs" must be an array');
    requested = outputs.map((o: unknown, index) => {
      if (!isObject(o) || typeof o.name !== 'string') throw badTensor(`outputs[${index}] must be an object with a string "name"`);
      const binary = parameters(`output '${o.name}'`, o.parameters)?.binary_data;
      return { name: o.name, binary: typeof binary === 'boolean' ? binary : binaryDefault };
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
  const binaryOf = new Map(request.outputs?.map((o) => [o.name, o.binary]));
  const chunks: Uint8Array[] = [];
  const described = outputs.map((t) => {
    if (binaryOf.get(t.name) ?? request.binaryDefault) {
      const bytes = toBytes(t);
      chunks.push(bytes);
      return { name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: bytes.byteLength } };
    }
    return { name: t.name, datatype: t.datatype, shape: t.shape, data: toJsonData(t) };
  });
  const json = Buffer.from(JSON.stringify({ ...head, outputs: described }), 'utf8');
  if (chunks.length === 0) return { body: json };
  return { body: Buffer.concat([json, ...chunks]), headerLength: json.byteLength };
}
