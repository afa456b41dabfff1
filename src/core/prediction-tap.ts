// Where the core reports every prediction it made, whatever front door asked (HTTP, MQTT, OIP,
// pipelines): ModelVersion.predict()/infer() call emit() after a successful run, so prediction
// events and the dashboard see all traffic from one place. With no observer the check is one
// array-length test; observers must be cheap and must not throw (a throw is swallowed: an
// observer never fails a prediction).
import type { PredictionObject } from '../response/decode.js';
import type { NamedTensors } from '../runtime/types.js';
import type { Row } from '../validation/request-validator.js';

/** Who asked, as front doors pass it along to predict()/infer(). */
export interface RequestContext {
  /** The front door's request id (HTTP X-Request-Id, MQTT message id...). */
  requestId?: string;
  /** 'http', 'mqtt', 'grpc', ... (a short fixed word: it becomes a metric label). */
  frontDoor?: string;
  /** Not reported (the core's own warm-up run). */
  unobserved?: boolean;
  /**
   * The caller's connection or call (an HTTP socket, a gRPC call): a request whose client has gone
   * (a closed socket, a cancelled call) before its batch starts is not run.
   */
  client?: ClientProbe;
  /** The request was an array of rows (one included): an error names each row by its index, as a plain model's 422 does. */
  batch?: boolean;
}

import type { ClientProbe } from '../batching/batcher.js';

export type { ClientProbe };

/** A model's compiled JSON writers for its rows and predictions, for observers that write JSON. */
export interface PredictionJson {
  inputs(rows: readonly Row[]): string;
  predictions(predictions: readonly PredictionObject[]): string;
}

export interface PredictionRecord extends RequestContext {
  model: string;
  version: number;
  rows: number;
  /** From the call to the result (queue wait + inference + decode), ms. */
  latencyMs: number;
  /** Wall-clock time of the result (Date.now()). */
  time: number;
  /** Its client had gone when the result came (a closed or half-closed connection, a cancelled call): no one reads the answer, a 499. */
  undelivered?: boolean;
  /** predict(): the validated rows and one prediction object per row. */
  inputs?: readonly Row[];
  predictions?: readonly PredictionObject[];
  /** predict(): JSON.stringify of inputs and predictions, faster (compiled for the model's fields and outputs). */
  json?: PredictionJson;
  /** infer(): the encoded inputs and the outputs fetched. */
  feeds?: NamedTensors;
  outputs?: NamedTensors;
}

export type PredictionObserver = (record: PredictionRecord) => void;

/** Whether a call is reported: someone observes, and it is not the core's own (its warm-up run). */
export function isObserved(tap: PredictionTap | undefined, context: { unobserved?: boolean } | undefined): tap is PredictionTap {
  return tap !== undefined && tap.observers.length > 0 && context?.unobserved !== true;
}

export class PredictionTap {
  observers: PredictionObserver[] = [];

  /** Adds an observer; returns the function that removes it. */
  add(observer: PredictionObserver): () => void {
    this.observers = [...this.observers, observer];
    return () => { this.observers = this.observers.filter((o) => o !== observer); };
  }

  emit(record: PredictionRecord): void {
    for (const observer of this.observers) {
      try {
        observer(record);
      } catch {
        // An observer's failure is its own (it counts and logs it); the prediction stands.
      }
    }
  }
}
