// Why the service is not ready, composed in this one place for every front door's readiness probe
// (HTTP's /readyz, the Open Inference Protocol's /v2/health/ready, the modelserve_ready gauge, gRPC's
// ServerReady and grpc.health.v1), so that they cannot disagree (test/production/readiness-contract.test.ts).
import type { InferenceCore } from './core.js';

export interface ReadinessSources {
  /** The core; absent while an app that makes its own core has not started it yet. */
  core: Pick<InferenceCore, 'state' | 'runtime'> | undefined;
  /** Another reason not to be ready once the core is (a required MQTT broker away), or undefined. */
  extra?: () => string | undefined;
  /** The asking front door has begun its own drain (a gRPC server drained on its own, before or without the core). */
  draining?: boolean;
}

/**
 * Why the service is not ready, or undefined when it is: loading until the core has started (every
 * model loaded at start is warm); shutting down from the first moment of a drain; then no inference
 * worker able to take a run (all quarantined or restarting); then the extra reason. A model that
 * fails to reload later keeps its previous version serving, so it does not count.
 */
export function whyNotReady({ core, extra, draining = false }: ReadinessSources): string | undefined {
  if (draining || core?.state === 'draining' || core?.state === 'closed') return 'shutting down';
  if (core?.state !== 'ready') return 'models are loading';
  return core.runtime.unavailable?.() ?? extra?.();
}
