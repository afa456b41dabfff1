// Open Inference Protocol clients for tests and benchmarks: binary REST bodies built by hand from
// the extension's rules (as tritonclient does), and a gRPC client from the project's .proto.
import { execFileSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { loadProtos } from '../../src/grpc/server.js';
import { PROTO_DIR } from '../../src/grpc/proto.js';
import { tempDir } from './paths.js';

/** Generates the Python stubs of proto/*.proto into a temp dir (Debian's python3-grpc-tools). */
export function generatePythonStubs(): string {
  const out = tempDir('modelserve-pystubs-');
  execFileSync('/usr/bin/python3', ['-m', 'grpc_tools.protoc', `-I${PROTO_DIR}`, `--python_out=${out}`, `--grpc_python_out=${out}`, 'grpc_service.proto', 'model_config.proto', 'health.proto'], { stdio: 'pipe' });
  return out;
}

export interface BinaryInput { name: string; datatype: string; shape: number[]; bytes: Uint8Array }

/** An inference body with every input as binary data; returns the body and the header length. */
export function binaryBody(inputs: BinaryInput[], extra: Record<string, unknown> = {}): { body: Buffer; headerLength: number } {
  const header = Buffer.from(JSON.stringify({
    ...extra,
    inputs: inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape, parameters: { binary_data_size: i.bytes.byteLength } })),
  }));
  return { body: Buffer.concat([header, ...inputs.map((i) => i.bytes)]), headerLength: header.byteLength };
}

/** BYTES elements in the binary layout (4-byte little-endian length, then the bytes). */
export function bytesElements(values: string[]): Buffer {
  return Buffer.concat(values.flatMap((v) => {
    const b = Buffer.from(v, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.byteLength);
    return [len, b];
  }));
}

/** Splits a binary response: the JSON header and each binary output's bytes by name. */
export function parseBinaryResponse(body: Buffer, headerLength: number): { json: { outputs: Array<{ name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size: number } }> } & Record<string, unknown>; binary: Map<string, Buffer> } {
  const json = JSON.parse(body.subarray(0, headerLength).toString('utf8'));
  const binary = new Map<string, Buffer>();
  let offset = headerLength;
  for (const o of json.outputs) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    binary.set(o.name, body.subarray(offset, offset + size));
    offset += size;
  }
  return { json, binary };
}

/** BYTES elements read back from the binary layout. */
export function readBytesElements(bytes: Buffer): string[] {
  const out: string[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    const len = bytes.readUInt32LE(offset);
    out.push(bytes.subarray(offset + 4, offset + 4 + len).toString('utf8'));
    offset += 4 + len;
  }
  return out;
}

/** A gRPC message as it travels in HTTP/2 DATA frames: a "not compressed" byte, its length (4 bytes, big-endian), its bytes. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

/** Splits a gRPC response body into messages: feed it each chunk as it arrives; it calls `onMessage` with each whole message. */
export function grpcMessageReader(onMessage: (message: Buffer) => void): (chunk: Buffer) => void {
  let buffered: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buffered = buffered.byteLength > 0 ? Buffer.concat([buffered, chunk]) : chunk;
    while (buffered.byteLength >= 5 && buffered.byteLength >= 5 + buffered.readUInt32BE(1)) {
      const end = 5 + buffered.readUInt32BE(1);
      onMessage(buffered.subarray(5, end));
      buffered = buffered.subarray(end);
    }
  };
}

export type GrpcClient = grpc.Client & Record<string, (request: unknown, metadataOrCallback: unknown, optionsOrCallback?: unknown, callback?: unknown) => grpc.ClientUnaryCall>;

/** A GRPCInferenceService client (and a Health client) from the project's .proto. */
export function grpcClients(port: number, options: grpc.ClientOptions = {}): { inference: GrpcClient; health: GrpcClient; close(): void } {
  const { inference, health } = loadProtos();
  const Inference = (inference.inference as grpc.GrpcObject).GRPCInferenceService as grpc.ServiceClientConstructor;
  const Health = (((health.grpc as grpc.GrpcObject).health as grpc.GrpcObject).v1 as grpc.GrpcObject).Health as grpc.ServiceClientConstructor;
  const address = `127.0.0.1:${port}`;
  const a = new Inference(address, grpc.credentials.createInsecure(), options) as unknown as GrpcClient;
  const b = new Health(address, grpc.credentials.createInsecure(), options) as unknown as GrpcClient;
  return { inference: a, health: b, close: () => { a.close(); b.close(); } };
}

/**
 * A grpc.health.v1 Watch on the whole server: the statuses it is told, in order, kept in `statuses`;
 * `cancel()` ends it (call it in the test's clean-up).
 */
export function watchHealth(health: GrpcClient): { statuses: string[]; cancel(): void } {
  const statuses: string[] = [];
  const watch = (health as unknown as { Watch(request: object): NodeJS.EventEmitter & { cancel(): void } }).Watch({ service: '' });
  watch.on('data', (m: { status: string }) => statuses.push(m.status));
  watch.on('error', () => undefined);
  return { statuses, cancel: () => watch.cancel() };
}

/** One unary call as a promise (metadata optional). */
export function rpc<T = Record<string, unknown>>(client: GrpcClient, method: string, request: unknown, metadata = new grpc.Metadata()): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method]!(request, metadata, (err: grpc.ServiceError | null, response: T) => (err ? reject(err) : resolve(response)));
  });
}

/** Float64 little-endian bytes of a column. */
export function fp64(values: number[]): Uint8Array {
  return new Uint8Array(Float64Array.from(values).buffer);
}
