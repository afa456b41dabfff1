// What a prediction's failure statuses mean, as the OpenAPI document describes them on the JSON REST
// predict and the OIP infer operations: a pipeline's steps add their own codes to 422, 502, 503 and 504.
import type { ModelConfig } from '../config/types.js';

export interface FailureTexts {
  /** A pipeline's step rejecting its input (422 on both routes; OIP's own bad input is a 400), else undefined. */
  stepValidation?: string;
  502: string;
  503: string;
  504: string;
}

const OUTPUT_RANGE = 'A number output (a column, or a raw output on the JSON API) reads a 64-bit integer the model gave past ±(2^53 - 1), which a JSON number does not carry exactly (MS_ERR_OUTPUT_RANGE); the detail names the field.';

export function failureTexts(config: ModelConfig, deadlines: string): FailureTexts {
  const overloaded = 'The queue is full (MS_ERR_OVERLOADED, with Retry-After: retry after that many seconds)';
  const notServing = 'the model cannot serve now — unloaded through the repository API, or every version failed to load (MS_ERR_MODEL_UNAVAILABLE, no Retry-After) — or the service is not ready (MS_ERR_NOT_READY)';
  const timeout = `The request outlived its deadline (MS_ERR_TIMEOUT: ${deadlines}).`;
  if (config.pipeline === undefined) return { 502: OUTPUT_RANGE, 503: `${overloaded}; or ${notServing}.`, 504: timeout };
  return {
    stepValidation: 'A step rejected its input, or no branch of a switch takes a row (MS_ERR_STEP_VALIDATION).',
    502: `A step failed (MS_ERR_STEP_FAILED, naming it): a remote step could not be reached, or answered an error or an unreadable answer; or a local step's model no longer answers a field the pipeline reads. Or: ${OUTPUT_RANGE}`,
    503: `${overloaded}, a step's included; a step cannot serve now (MS_ERR_STEP_UNAVAILABLE: its model unloaded or failed, or the remote service answered 503); the pipeline was derived again with other fields while the request ran (MS_ERR_MODEL_UNAVAILABLE with Retry-After: send it again); or ${notServing}.`,
    504: `${timeout} Or a remote step did not answer within its timeout_ms, or answered 504 (MS_ERR_STEP_TIMEOUT, naming it).`,
  };
}

/**
 * The response headers a generated client should expose (components.headers): the request id on
 * every answer, the answering version on a prediction, and Retry-After on the refusals that carry it.
 */
export const RESPONSE_HEADERS = {
  RequestId: { description: "The request's id: the caller's X-Request-Id when short and plain, else a new UUID; also the error body's request_id and on every log line of the request.", required: true, schema: { type: 'string' } },
  ModelVersion: { description: 'The version of the model that answered (under a traffic split, the one the split picked).', required: true, schema: { type: 'string' } },
  ModelVersionIfReached: { description: 'The version of the model that took the request (under a traffic split, the one the split picked): present once the request reached a version (its rows invalid, its queue full, its deadline passed, its inference failed); absent when it was refused before (the model not serving, a load on demand timed out).', required: false, schema: { type: 'string' } },
  RetryAfter: { description: 'Seconds to wait before sending the request again. Present on a full queue (MS_ERR_OVERLOADED) and a pipeline derived again under the request; absent on the other 503s (a model unloaded or failed, the service not ready).', required: false, schema: { type: 'integer', minimum: 0 } },
  WwwAuthenticate: { description: 'The challenge of a refused key (RFC 6750): Bearer realm="modelserve", with error="invalid_token" when a key was sent and is unknown.', required: true, schema: { type: 'string' } },
  InferenceHeaderContentLength: { description: "Triton's binary tensor extension: the length of the JSON header before the binary outputs (on an application/octet-stream answer only).", required: false, schema: { type: 'integer', minimum: 0 } },
  RateLimitRetryAfter: { description: "Seconds until the API key's next request token.", required: true, schema: { type: 'integer', minimum: 0 } },
} satisfies Record<string, Record<string, unknown>>;

const ref = (name: keyof typeof RESPONSE_HEADERS) => ({ $ref: `#/components/headers/${name}` });
/** What a response's `headers` declares: the request id, plus the given ones. */
export const REQUEST_ID_HEADER = { 'X-Request-Id': ref('RequestId') };
export const MODEL_VERSION_HEADER = { 'X-Model-Version': ref('ModelVersion') };
/** On a prediction's failures after its version was picked (a 422 always is: the rows are validated by the version). */
export const MODEL_VERSION_IF_REACHED_HEADER = { 'X-Model-Version': ref('ModelVersionIfReached') };
export const RETRY_AFTER_HEADER = { 'Retry-After': ref('RetryAfter') };
export const WWW_AUTHENTICATE_HEADER = { 'WWW-Authenticate': ref('WwwAuthenticate') };
export const INFERENCE_HEADER_LENGTH_HEADER = { 'Inference-Header-Content-Length': ref('InferenceHeaderContentLength') };
export const RATE_LIMIT_RETRY_AFTER_HEADER = { 'Retry-After': ref('RateLimitRetryAfter') };

/** Declares the request id on every response of the document's operations (it is on every answer). */
export function declareRequestId(paths: Record<string, Record<string, unknown>>): void {
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item) as Array<{ responses?: Record<string, { headers?: Record<string, unknown> }> }>) {
      for (const response of Object.values(operation.responses ?? {})) response.headers = { ...REQUEST_ID_HEADER, ...response.headers };
    }
  }
}
