// Errors of a pipeline's steps: each names the step. A step's 422 keeps FastAPI's shape, with a
// loc that starts with ['step', <name>] and then the step's own loc (its body, row, field), and
// the row index translated back to the client's request (a switch sends subsets of the rows).
import type { ClientProbe } from '../batching/batcher.js';
import { ModelServeError, type ErrorCode } from '../errors.js';
import type { ValidationIssue } from '../validation/request-validator.js';

/** A 422 whose body is FastAPI's {detail: [...]} (the HTTP error boundary sends `issues`). */
export class StepValidationError extends ModelServeError {
  readonly issues: ValidationIssue[];
  constructor(message: string, issues: ValidationIssue[]) {
    super('MS_ERR_STEP_VALIDATION', message);
    this.issues = issues;
  }
}

/**
 * A local step's model no longer answers a field the pipeline read from it when the pipeline loaded: the model was
 * reloaded since with other outputs (a 502 naming the step and the field).
 */
export class StepChangedError extends ModelServeError {
  constructor(message: string) {
    super('MS_ERR_STEP_FAILED', message);
  }
}

/** Whether a request's failure comes from a step's model having changed under it (through nested pipelines' steps too). */
export function changedUnder(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (e instanceof StepChangedError || e instanceof StepValidationError) return true;
  return false;
}

/** Where a step's rows came from: their indexes in the client's request, and whether it sent an array. */
export interface RowOrigin {
  indexes: readonly number[];
  batch: boolean;
  /** The request's client, to stop the steps' work once it has gone (a remote call in flight is cancelled). */
  client?: ClientProbe;
  /** The client's request id: the steps' predictions (events, dashboard) carry it, so they can be matched to the answer. */
  requestId?: string;
}

/** A step's own 422 issues, re-addressed: ['step', name, 'body', <client row>, ...field path] (a nested pipeline's: ['step', name, 'step', <its step>, 'body', <client row>, ...]). */
export function stepIssues(step: string, issues: readonly ValidationIssue[], origin: RowOrigin): ValidationIssue[] {
  return issues.map((issue) => {
    // A step that is itself a pipeline (local or remote) addresses its own steps' issues
    // ['step', <its step>, ..., 'body', <row>, ...]: its steps stay in the loc, its row is translated.
    const loc = [...issue.loc];
    const inner: Array<string | number> = [];
    while (loc[0] === 'step' && loc.length > 2) inner.push(...loc.splice(0, 2));
    let rest = loc[0] === 'body' ? loc.slice(1) : loc;
    // The step got an array: its first loc element is the row in that array.
    if (typeof rest[0] === 'number') {
      const row = origin.indexes[rest[0]] ?? rest[0];
      rest = origin.batch ? [row, ...rest.slice(1)] : rest.slice(1);
    }
    return { ...issue, loc: ['step', step, ...inner, 'body', ...rest], msg: `step '${step}': ${issue.msg}`, ctx: { ...(issue.ctx ?? {}), step } };
  });
}

export function stepValidationError(step: string, issues: readonly ValidationIssue[], origin: RowOrigin): StepValidationError {
  const mapped = stepIssues(step, issues, origin);
  const first = mapped[0];
  return new StepValidationError(`step '${step}' rejected its input${first ? `: ${first.loc.join('.')}: ${first.msg}` : ''}`, mapped);
}

/** A step's failure as the pipeline reports it: the step named, the code kept or translated. */
export function stepError(step: string, err: unknown): ModelServeError {
  if (err instanceof StepValidationError) return err;
  if (err instanceof ModelServeError) {
    const code: ErrorCode = err.code === 'MS_ERR_MODEL_NOT_FOUND' || err.code === 'MS_ERR_MODEL_UNAVAILABLE' || err.code === 'MS_ERR_NOT_READY' ? 'MS_ERR_STEP_UNAVAILABLE' : err.code;
    if (err.message.startsWith(`step '${step}'`)) return err;
    return new ModelServeError(code, `step '${step}': ${err.message}`, { cause: err, headers: err.headers });
  }
  return new ModelServeError('MS_ERR_INFERENCE', `step '${step}': ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
