// The Open Inference Protocol's non-inference answers on the core, shared by REST and gRPC: server
// and model metadata, Triton's model configuration, the repository index and statistics.
import type { InferenceCore } from '../../core/core.js';
import type { ServableVersion } from '../../core/servable.js';
import { isServerFault, ModelServeError, type ErrorCode } from '../../errors.js';
import { VERSION } from '../../version.js';
import { performance } from 'node:perf_hooks';
import { checkRequestParameters, inferTensors, viewOf, withTimeoutParameter, type TensorMetadata } from './codec.js';
import { inferResponseBody, parseInferBody } from './rest-body.js';
import type { InferenceStatistics } from './statistics.js';
import type { Datatype } from './tensors.js';
import type { ClientProbe } from '../../core/prediction-tap.js';
import { parseVersion } from '../version-param.js';

/** What GET /v2 and ServerMetadata list. */
export const EXTENSIONS = ['binary_tensor_data', 'classification', 'model_configuration', 'model_repository', 'statistics'] as const;

export const PLATFORM = 'onnxruntime_onnx';

/** Triton's platform names: a pipeline of models is an 'ensemble' (and has no backend of its own). */
const platformOf = (version: ServableVersion): string => (version.kind === 'pipeline' ? 'ensemble' : PLATFORM);

export function serverMetadata(): { name: string; version: string; extensions: string[] } {
  return { name: 'modelserve', version: VERSION, extensions: [...EXTENSIONS] };
}

/** The version a name-only inference request goes to under its model's traffic split (TrafficRouter.pick), or undefined (the newest ready one). */
export type SplitPick = (name: string) => number | undefined;

/** The version to serve: loaded now, else loaded on demand (memory budget). An inference without a version follows the model's split. */
export function acquire(core: InferenceCore, name: string, version: string | undefined, deadline?: number, split?: SplitPick): ServableVersion | Promise<ServableVersion> {
  const number = parseVersion(version) ?? split?.(name);
  return core.resolve(name, number) ?? core.acquire(name, number, deadline);
}

/**
 * Why the model (version) is not ready (OIP ModelReady), or undefined when it is; throws
 * MS_ERR_MODEL_NOT_FOUND for an unknown model or version. The model's own state comes first: the
 * workers are named only for a model that is loaded and would answer but for them.
 */
export function whyModelNotReady(core: InferenceCore, name: string, version: string | undefined): string | undefined {
  if (core.state !== 'ready' && core.state !== 'draining') return core.state === 'closed' ? 'the server has shut down' : 'the server is starting';
  return core.whyNotReady(name, parseVersion(version)) ?? core.runtime.unavailable?.();
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
  /** Not in Triton's answer; the OIP gRPC spec's `properties` (also sent over REST). */
  properties: { view: 'fields' | 'raw' };
}

export function modelMetadata(core: InferenceCore, version: ServableVersion): ModelMetadata {
  const view = viewOf(version);
  const [status] = core.status(version.name);
  const versions = (status?.versions ?? []).filter((v) => v.state === 'ready').map((v) => String(v.version));
  return { name: version.name, versions, platform: platformOf(version), inputs: view.inputs, outputs: view.outputs, properties: { view: view.kind } };
}

/** A tensor as Triton's model configuration declares it: dims without the batch dimension when batched. */
export interface ConfigTensor { name: string; datatype: Datatype; dims: number[] }

/** Triton's view of a version's tensors: whether it is batched (max_batch_size > 0) and each tensor's dims. */
export function configTensors(version: ServableVersion): { batched: boolean; input: ConfigTensor[]; output: ConfigTensor[] } {
  const view = viewOf(version);
  // Batched models declare max_batch_size and leave the batch dimension out of dims (Triton's rule);
  // not once the batcher runs each request alone (perf_analyzer and tritonclient batch by this).
  const batched = view.batched && version.runsAlone !== true;
  const tensor = (t: TensorMetadata) => ({ name: t.name, datatype: t.datatype, dims: batched ? t.shape.slice(1) : t.shape });
  return { batched, input: view.inputs.map(tensor), output: view.outputs.map(tensor) };
}

/** Triton's model configuration (model_config.proto as JSON): what perf_analyzer and tritonclient read. */
export function modelConfig(version: ServableVersion): Record<string, unknown> {
  const view = viewOf(version);
  const { config } = version;
  const { batched, input, output } = configTensors(version);
  const tensor = (t: ConfigTensor) => ({ name: t.name, data_type: `TYPE_${t.datatype === 'BYTES' ? 'STRING' : t.datatype}`, dims: t.dims });
  return {
    name: version.name,
    platform: platformOf(version),
    ...(version.kind === 'pipeline' ? {} : { backend: 'onnxruntime' }),
    version_policy: 'all' in config.versionPolicy ? { all: {} } : 'specific' in config.versionPolicy ? { specific: { versions: config.versionPolicy.specific } } : { latest: { num_versions: config.versionPolicy.latest } },
    max_batch_size: batched ? config.batching.maxBatchSize : 0,
    input: input.map(tensor),
    output: output.map(tensor),
    ...(config.batching.enabled && batched ? { dynamic_batching: { max_queue_delay_microseconds: config.batching.maxQueueDelayMs * 1000 } } : {}),
    parameters: { view: { string_value: view.kind }, model_version: { string_value: String(version.version) } },
  };
}

export interface IndexEntry { name: string; version: string; state: string; reason: string }

/**
 * A repository load's or unload's `parameters`: none, or an object (Triton's map of names to values);
 * anything else is refused rather than ignored.
 */
export function checkParametersObject(parameters: unknown): asserts parameters is Record<string, unknown> | null | undefined {
  if (parameters === undefined || parameters === null) return;
  if (typeof parameters !== 'object' || Array.isArray(parameters)) throw new ModelServeError('MS_ERR_UNSUPPORTED_PARAMETER', '"parameters" must be an object');
}

/**
 * Triton's load parameters that would change what is loaded (`config`: a config override, `file:…`:
 * model files sent with the request) are refused rather than ignored: modelserve loads the model
 * folder as it is on disk, and a 200 would say the override took effect.
 */
export function checkLoadParameters(parameters: unknown): void {
  checkParametersObject(parameters);
  if (parameters === undefined || parameters === null) return;
  const overrides = Object.keys(parameters).filter((k) => k === 'config' || k.startsWith('file:'));
  if (overrides.length > 0) {
    throw new ModelServeError('MS_ERR_UNSUPPORTED_PARAMETER', `load parameter ${overrides.map((k) => `'${k.slice(0, 64)}'`).join(', ')} is not supported: the model folder is loaded as it is on disk (edit its model.yaml or files, then load)`);
  }
}

/** Triton's repository index: one entry per version (a model with none: one entry without version). */
export function repositoryIndex(core: InferenceCore, readyOnly = false): IndexEntry[] {
  return core.status().flatMap((m) => {
    const rows = m.versions.map((v) => ({ name: m.name, version: v.version === 0 ? '' : String(v.version), state: v.state.toUpperCase(), reason: v.reason ?? '' }));
    const all = rows.length > 0 ? rows : [{ name: m.name, version: '', state: m.state.toUpperCase(), reason: '' }];
    return readyOnly ? all.filter((r) => r.state === 'READY') : all;
  });
}

/** Triton's statistics of every ready version, of one model, or of one version. */
export function modelStatistics(core: InferenceCore, stats: InferenceStatistics, name?: string, version?: string): Array<Record<string, unknown>> {
  // Without a model name, every model's statistics: the version is ignored, as Triton does.
  const wanted = name ? parseVersion(version) : undefined;
  const models = name ? core.status(name) : core.status();
  if (wanted !== undefined && name) core.peek(name, wanted); // throws for a version the model does not have
  return models.flatMap((m) => m.versions
    .filter((v) => v.state === 'ready' && (wanted === undefined || v.version === wanted))
    .map((v) => stats.snapshot(m.name, v.version)));
}

/**
 * One OIP REST inference (routes/oip.ts and the fast path): the body — JSON, or JSON then binary
 * tensors with `headerLength` from Inference-Header-Content-Length — in, the response body out.
 * (The statistics extension counts the request in the core, as every front door's.)
 */
export async function restInfer(version: ServableVersion, body: Uint8Array, headerLength: string | undefined, request: { client?: ClientProbe; deadline?: number | undefined; requestId?: string } = {}): Promise<{ body: Buffer; headerLength?: number }> {
  const arrived = performance.now();
  const parsed = parseInferBody(body, headerLength, () => ({ name: version.name, ...configTensors(version) }));
  checkRequestParameters(parsed.parameters);
  const deadline = withTimeoutParameter(parsed.parameters?.timeout, request.deadline, arrived);
  // Made only when an output asks (the extension is rare; this runs per request).
  let classification: Map<string, number> | undefined;
  for (const o of parsed.outputs ?? []) if (o.classification !== undefined) (classification ??= new Map()).set(o.name, o.classification);
  const outputs = await inferTensors(version, { inputs: parsed.inputs, outputs: parsed.outputs?.map((o) => o.name), classification, client: request.client, deadline, requestId: request.requestId, frontDoor: 'http' });
  const head = parsed.id === undefined ? { model_name: version.name, model_version: version.versionHeader } : { model_name: version.name, model_version: version.versionHeader, id: parsed.id };
  return inferResponseBody(head, outputs, parsed);
}

/**
 * An error as OIP REST answers it: `{"error": message}` (tritonclient reads `error` on any
 * non-200) with the error's status and headers; an inference failure's details, and anything that
 * is not a ModelServeError, stay in the server log (`logAsError`: the line to log).
 */
export function restError(error: unknown, requestId: string): { status: number; code: ErrorCode; message: string; headers?: Record<string, string>; logAsError?: string } {
  if (!(error instanceof ModelServeError)) return { status: 500, code: 'MS_ERR_INTERNAL', message: `internal server error; see the server log for request ${requestId}`, logAsError: 'unhandled error' };
  const message = error.code === 'MS_ERR_INFERENCE' ? `inference failed; see the server log for request ${requestId}` : error.message;
  return { status: error.status, code: error.code, message, headers: error.headers, ...(isServerFault(error) ? { logAsError: error.message } : {}) };
}
