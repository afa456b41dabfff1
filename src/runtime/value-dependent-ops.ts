// Operators whose work depends on the values of a run's inputs, not only on their shapes: a model
// holding one may be cheap on the zeros it is timed on at load and take seconds (or never end) on a
// real input. The hybrid runtime gives such a model no main-thread session (a run there blocks the
// event loop, health probes included, and no watchdog can stop it); its runs stay on the workers,
// where the run watchdog catches one that does not end. The list is in docs/runtime.md.
import { graphFacts, type NodeFacts } from '../core/graph-facts.js';

/** Matched by op_type in any domain (a custom op of one of these names is as likely to do the same). */
export const VALUE_DEPENDENT_OPS: ReadonlySet<string> = new Set([
  // Control flow: the trip count, the branch taken or the number of steps comes from the data.
  'Loop', 'Scan', 'If', 'SequenceMap',
  // com.microsoft generation loops: their length comes from an input (max_length).
  'BeamSearch', 'GreedySearch', 'Sampling', 'WhisperBeamSearch',
  // Output size (so the work) taken from an input's values.
  'Range', 'ConstantOfShape', 'Expand', 'Tile', 'Resize', 'Upsample', 'Pad', 'OneHot', 'TopK',
  'NonMaxSuppression', 'MaxUnpool', 'Col2Im', 'CenterCropPad', 'DFT', 'STFT', 'MelWeightMatrix',
  'HannWindow', 'HammingWindow', 'BlackmanWindow',
]);

/**
 * The VALUE_DEPENDENT_OPS a model holds, anywhere: its graph, the subgraphs of its nodes'
 * attributes (a Loop's body, an If's branches, nested) and its model-local functions (read once per
 * load: graph-facts.ts). Rejects when the graph cannot be read.
 */
export async function valueDependentOps(bytes: Uint8Array): Promise<string[]> {
  const { graph, functions } = await graphFacts(bytes);
  const found = new Set<string>();
  const visit = (nodes: NodeFacts[]): void => {
    for (const node of nodes) {
      if (VALUE_DEPENDENT_OPS.has(node.opType)) found.add(node.opType);
      for (const attribute of node.attributes.values()) for (const subgraph of attribute.graphs ?? []) visit(subgraph.nodes);
    }
  };
  visit(graph.nodes);
  for (const nodes of functions) visit(nodes);
  return [...found].sort();
}
