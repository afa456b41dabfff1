// What serve's load decides from a model's graph, said by `modelserve check` as notes (the model
// serves either way): a raw model whose graph may mix rows is not batched across requests
// (core.ts, as its log says at info), and a model holding operators whose work depends on its
// input's values never runs on the main thread (the hybrid runtime, hybrid.ts).
import type { ModelConfig } from '../config/types.js';
import { rawBatchable } from '../config/signature.js';
import { rowMixing } from '../core/batch-rows.js';
import { notBatchedMessage, workersOnlyMessage } from '../core/load-decisions.js';
import { valueDependentOps } from '../runtime/value-dependent-ops.js';
import type { ModelSignature } from '../runtime/types.js';
import type { ModelProblem } from './problems.js';

/**
 * `bytes`: the model as served (after the optimiser), what the hybrid runtime reads; `written`: as
 * its author wrote it, what a raw model's rows are judged by (as core.ts's load does). `hybrid`: serve runs the
 * hybrid runtime (its default), which alone decides per model whether it may run on the main thread.
 */
export async function loadNotes(config: ModelConfig, signature: ModelSignature, bytes: Uint8Array, written: Uint8Array, hybrid = true): Promise<ModelProblem[]> {
  const note = (message: string): ModelProblem => ({ file: config.configFile, key: '(model)', message, severity: 'note' });
  const notes: ModelProblem[] = [];
  // The same condition as the load's: only a raw model that would be batched is read for rows that mix.
  if (config.kind === 'raw' && config.batching.enabled && rawBatchable(signature)) {
    const rowsMixed = await rowMixing(signature, written);
    if (rowsMixed !== undefined) notes.push(note(notBatchedMessage(rowsMixed)));
  }
  if (!hybrid) return notes;
  let ops: string[] | undefined;
  let unreadable: string | undefined;
  try {
    ops = await valueDependentOps(bytes);
  } catch (err) {
    // The runtime keeps such a model off the main thread too.
    unreadable = (err as Error).message;
  }
  if (unreadable !== undefined || (ops !== undefined && ops.length > 0)) notes.push(note(workersOnlyMessage(ops ?? [], unreadable)));
  return notes;
}
