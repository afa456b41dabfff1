// Traffic routing per model, from its config (traffic:, sticky:, shadow:): which version answers
// a name-only request (a canary split by percentage, optionally sticky by a header or a field's
// value), and a copy of each request to a shadow (another version or model) whose answers are
// compared with the served ones and never reach the client.
//
// The shadow never slows nor fails the served request: it starts after the answer is on its way
// (setImmediate), runs fire-and-forget, is bounded by an in-flight cap (past it, copies are
// dropped and counted) and by its own timeout, and every failure is counted, never thrown.
import { performance } from 'node:perf_hooks';
import type { RoutingSpec } from '../config/types.js';
import type { CoreEvent, InferenceCore } from '../core/core.js';
import type { ServableVersion } from '../core/servable.js';
import type { PredictionObject } from '../response/decode.js';
import type { Row } from '../validation/request-validator.js';

export type ShadowOutcome = 'ok' | 'error' | 'timeout' | 'dropped';

export interface ShadowObserver {
  /** One mirrored request, by outcome. */
  request(model: string, shadow: string, outcome: ShadowOutcome): void;
  /** Compared rows: agreeing and disagreeing. */
  rows(model: string, shadow: string, agree: number, disagree: number): void;
}

export interface DisagreementLog {
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface TrafficRouterOptions {
  core: () => InferenceCore;
  observer?: ShadowObserver;
  log?: DisagreementLog;
  /** Random source (tests pass a seeded one). */
  random?: () => number;
}

/** FNV-1a, 32 bits: a stable, fast hash of the sticky key onto [0, 100). */
export function stickyPoint(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return ((h >>> 0) % 10000) / 100;
}

/** Whether two answers agree: on their common label (string) fields if any, else on every common field (numbers within 1e-6). */
export function agrees(served: PredictionObject, shadow: PredictionObject): boolean {
  const common = Object.keys(served).filter((k) => k in shadow);
  const labels = common.filter((k) => typeof served[k] === 'string');
  const compared = labels.length > 0 ? labels : common;
  if (compared.length === 0) return false;
  return compared.every((k) => {
    const a = served[k];
    const b = shadow[k];
    if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a));
    return JSON.stringify(a) === JSON.stringify(b);
  });
}

export class TrafficRouter {
  private readonly options: TrafficRouterOptions;
  private readonly random: () => number;
  private cache = new Map<string, RoutingSpec | null>();
  private shadowsInFlight = new Map<string, number>();
  private subscribed: InferenceCore | undefined;

  constructor(options: TrafficRouterOptions) {
    this.options = options;
    this.random = options.random ?? Math.random;
  }

  private routing(name: string): RoutingSpec | undefined {
    const core = this.options.core();
    if (this.subscribed !== core) {
      this.subscribed = core;
      this.cache.clear();
      core.on('event', (e: CoreEvent) => { if (e.type !== 'eviction') this.cache.clear(); });
    }
    let spec = this.cache.get(name);
    if (spec === undefined) {
      // Only served models are kept: every name a client sends (OIP and gRPC ask before the name is
      // checked) would otherwise stay until the models change.
      if (!core.has(name)) return undefined;
      spec = core.routing(name) ?? null;
      this.cache.set(name, spec);
    }
    return spec ?? undefined;
  }

  /** Whether the model has a traffic split or a shadow (its requests need this router). */
  routed(name: string): boolean {
    const spec = this.routing(name);
    return spec !== undefined && (spec.traffic !== undefined || spec.shadow !== undefined);
  }

  /**
   * The version a name-only request goes to under the model's split, or undefined (the newest
   * ready version). Versions of the split that are not ready share out their percentage, and so
   * do versions that are not there at all (removed from disk, or not copied there yet).
   */
  pick(name: string, sticky: (spec: NonNullable<RoutingSpec['sticky']>) => string | undefined): number | undefined {
    const spec = this.routing(name);
    if (!spec?.traffic) return undefined;
    const core = this.options.core();
    const ready = spec.traffic.filter((t) => t.percent > 0 && core.isReady(name, t.version));
    if (ready.length === 0) return undefined;
    const total = ready.reduce((sum, t) => sum + t.percent, 0);
    const key = spec.sticky ? sticky(spec.sticky) : undefined;
    const point = ((key === undefined ? this.random() * 100 : stickyPoint(key)) / 100) * total;
    let at = 0;
    for (const t of ready) {
      at += t.percent;
      if (point < at) return t.version;
    }
    return ready[ready.length - 1]!.version;
  }

  /** The version a name-only request of the model is served by (its newest ready one), if any. */
  private servingVersion(name: string): number | undefined {
    const core = this.options.core();
    return core.has(name) ? core.peek(name)?.version : undefined;
  }

  /** Sends a copy of a served request to the model's shadow, if it has one (fire-and-forget). */
  mirror(served: ServableVersion, rows: Row[], answers: PredictionObject[], requestId?: string): void {
    const shadow = this.routing(served.name)?.shadow;
    if (!shadow || (shadow.percent < 100 && this.random() * 100 >= shadow.percent)) return;
    const model = shadow.model ?? served.name;
    const label = `${model}${shadow.version === undefined ? '' : `:${shadow.version}`}`;
    // The shadow of a version is never itself (of its own model without a version: the newest ready one, which may be the one serving).
    if (model === served.name && (shadow.version ?? this.servingVersion(model)) === served.version) return;
    const inFlight = this.shadowsInFlight.get(label) ?? 0;
    if (inFlight >= shadow.maxInFlight) {
      this.options.observer?.request(served.name, label, 'dropped');
      return;
    }
    this.shadowsInFlight.set(label, inFlight + 1);
    setImmediate(() => {
      void this.runShadow(served, label, model, shadow, rows, answers, requestId).finally(() => {
        this.shadowsInFlight.set(label, (this.shadowsInFlight.get(label) ?? 1) - 1);
      });
    });
  }

  private async runShadow(served: ServableVersion, label: string, model: string, shadow: NonNullable<RoutingSpec['shadow']>, rows: Row[], answers: PredictionObject[], requestId: string | undefined): Promise<void> {
    const { observer, log } = this.options;
    const deadline = performance.now() + shadow.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), shadow.timeoutMs); });
    try {
      const work = (async () => {
        const core = this.options.core();
        const target = core.resolve(model, shadow.version) ?? (await core.acquire(model, shadow.version, deadline));
        const checked = target.validate(rows);
        if (!checked.ok) throw new Error(`the shadow rejected the request: ${JSON.stringify(checked.issues[0])}`);
        // Its prediction (events, the dashboard) carries the served request's id, from front door 'shadow'.
        return target.predict(checked.rows, deadline, { requestId, frontDoor: 'shadow' });
      })();
      work.catch(() => undefined); // a late failure after the timeout is already counted
      const result = await Promise.race([work, timeout]);
      if (result === 'timeout') {
        observer?.request(served.name, label, 'timeout');
        return;
      }
      observer?.request(served.name, label, 'ok');
      let agree = 0;
      const disagreements: number[] = [];
      result.forEach((answer, i) => {
        if (agrees(answers[i]!, answer)) agree++;
        else disagreements.push(i);
      });
      observer?.rows(served.name, label, agree, disagreements.length);
      for (const i of disagreements) {
        if (this.random() < shadow.sampleDisagreements) {
          log?.warn({ model: served.name, version: served.version, shadow: label, request: rows[i], served: answers[i], shadow_answer: result[i] }, 'shadow disagreement');
        }
      }
    } catch {
      observer?.request(served.name, label, 'error');
    } finally {
      clearTimeout(timer);
    }
  }
}
