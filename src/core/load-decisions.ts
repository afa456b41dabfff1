// What a model's load decides from its graph, in words shared by the server's log and
// `modelserve check` (which reports them as notes: the model serves either way).

/** A raw model whose graph may mix rows across its batch (rowMixing's reason): it is not batched across requests. */
export function notBatchedMessage(rowsMixed: string): string {
  return `not batched across requests (max_batch_size 0): ${rowsMixed}, so each request runs alone`;
}

/**
 * A model holding operators whose work depends on its input's values (valueDependentOps), or whose graph
 * could not be read to tell (`unreadable`: why): the hybrid runtime runs its batches on the workers only.
 */
export function workersOnlyMessage(ops: readonly string[], unreadable?: string): string {
  const why = unreadable !== undefined
    ? `its graph could not be read to tell whether it holds an operator whose work depends on its input's values (${unreadable})`
    : `it holds ${ops.join(', ')}, ${ops.length === 1 ? 'an operator' : 'operators'} whose work depends on its input's values`;
  return `never runs on the main thread: ${why}, so every batch runs on a worker thread`;
}
