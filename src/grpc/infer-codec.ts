// ModelInfer's and ModelStreamInfer's messages, read and written with protobufjs directly rather
// than through @grpc/proto-loader's object conversion. proto-loader turns each decoded request into
// a plain object with every default filled in and every int64 printed as a decimal string (a Long
// division per shape dimension), and each answer back through fromObject; for a one-row request of
// 7 inputs that was most of the server's protobuf time per call (BENCHMARKS.md, OIP section). Here
// a request is read from the decoded message as it is, and an answer — a plain object whose fields
// already have the wire types — is encoded without conversion. Every other RPC keeps proto-loader's.
import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { TensorContents } from '../protocols/oip/tensors.js';
import { PROTO_DIR } from './proto.js';

/** An int64 as protobufjs decodes it: a Long (the `long` package is installed) or a number. */
export type Int64 = number | { toNumber(): number; toString(): string };

export interface InferInput { name: string; datatype: string; shape: Int64[]; contents: TensorContents | null }
export interface InferRequestMessage {
  model_name: string;
  model_version: string;
  id: string;
  inputs: InferInput[];
  /** Requested outputs, each with its parameters as `parameters` below. */
  outputs: Array<{ name: string; parameters: Record<string, unknown> }>;
  raw_input_contents: Uint8Array[];
  /** The request's parameters map, each InferParameter as the value of its choice (64-bit integers as numbers, BigInts past 2^53). */
  parameters: Record<string, unknown>;
  /** Why the bytes are not a ModelInferRequest (the call answers INVALID_ARGUMENT with it: grpc-js would answer a deserializer's throw with INTERNAL). */
  invalid?: string;
}

/** A shape dimension as a number (rounded past the safe integers: the caller checks). */
export function dimension(d: Int64): number {
  return typeof d === 'number' ? d : d.toNumber();
}

interface DecodedInput { name: string; datatype: string; shape: Int64[]; contents: Record<string, unknown[]> | null; parameters?: Record<string, Record<string, unknown>> }
interface DecodedRequest { model_name: string; model_version: string; id: string; inputs: DecodedInput[]; outputs: Array<{ name: string; parameters?: Record<string, Record<string, unknown>> }>; raw_input_contents: Uint8Array[]; parameters: Record<string, Record<string, unknown>> }

const CHOICES = ['bool_param', 'int64_param', 'string_param', 'double_param', 'uint64_param'] as const;

/**
 * An InferParameter's value as REST's JSON would carry it: the member set (a decoded message owns
 * only those). One with none set (an empty oneof) is named in `empty`: Triton refuses it (invalid
 * value type, INVALID_ARGUMENT), and ignoring it hid a client's mistake (a classification asked for
 * without its count answered the plain tensor).
 */
function parameterValues(decoded: Record<string, Record<string, unknown>>, where: string, empty: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, p] of Object.entries(decoded)) {
    const choice = CHOICES.find((c) => Object.hasOwn(p, c));
    if (choice === undefined) {
      empty.push(`${where}[${JSON.stringify(key)}]`);
      continue;
    }
    const v = p[choice];
    if (choice !== 'int64_param' && choice !== 'uint64_param') { out[key] = v; continue; }
    // One past 2^53 stays exact as a BigInt (a message quoting it as a number would misquote it).
    const n = Number(String(v));
    out[key] = Number.isSafeInteger(n) ? n : BigInt(String(v));
  }
  return out;
}

/** Typed contents as the OIP tensors read them: only the members sent, 64-bit integers as decimal strings. */
function contentsOf(decoded: Record<string, unknown[]>): TensorContents {
  const contents: Record<string, unknown[]> = {};
  for (const key of Object.keys(decoded)) {
    const values = decoded[key]!;
    if (values.length === 0) continue;
    contents[key] = key === 'int64_contents' || key === 'uint64_contents' ? values.map(String) : values;
  }
  return contents as TensorContents;
}

export interface InferCodec {
  decodeRequest(bytes: Buffer): InferRequestMessage;
  encodeResponse(response: object): Buffer;
  encodeStreamResponse(response: object): Buffer;
}

export function inferCodec(): InferCodec {
  const root = new protobuf.Root();
  // Imports (model_config.proto) resolve in proto/, as proto-loader's includeDirs do.
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync('grpc_service.proto', { keepCase: true });
  const request = root.lookupType('inference.ModelInferRequest');
  const response = root.lookupType('inference.ModelInferResponse');
  const streamResponse = root.lookupType('inference.ModelStreamInferResponse');
  return {
    decodeRequest(bytes) {
      let m: DecodedRequest;
      try {
        m = request.decode(bytes) as unknown as DecodedRequest;
      } catch (err) {
        return { model_name: '', model_version: '', id: '', inputs: [], outputs: [], raw_input_contents: [], parameters: {}, invalid: (err as Error).message };
      }
      const empty: string[] = [];
      // An input's own parameters are not read (binary_data_size is REST's), but one without a value is refused all the same.
      m.inputs.forEach((input, i) => parameterValues(input.parameters ?? {}, `inputs[${i}].parameters`, empty));
      const decoded: InferRequestMessage = {
        model_name: m.model_name,
        model_version: m.model_version,
        id: m.id,
        inputs: m.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape, contents: i.contents ? contentsOf(i.contents) : null })),
        outputs: m.outputs.map((o, i) => ({ name: o.name, parameters: parameterValues(o.parameters ?? {}, `outputs[${i}].parameters`, empty) })),
        raw_input_contents: m.raw_input_contents,
        parameters: parameterValues(m.parameters, 'parameters', empty),
      };
      if (empty.length > 0) decoded.invalid = `${empty.join(', ')} ${empty.length === 1 ? 'has' : 'have'} no value: an InferParameter needs one of ${CHOICES.join(', ')} set`;
      return decoded;
    },
    encodeResponse: (message) => response.encode(message).finish() as Buffer,
    encodeStreamResponse: (message) => streamResponse.encode(message).finish() as Buffer,
  };
}
