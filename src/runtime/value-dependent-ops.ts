// Operators whose work depends on the values of a run's inputs, not only on their shapes: a model
// holding one may be cheap on the zeros it is timed on at load and take seconds (or never end) on a
// real input. The hybrid runtime gives such a model no main-thread session (a run there blocks the
// event loop, health probes included, and no watchdog can stop it); its runs stay on the workers,
// where the run watchdog catches one that does not end. The list is in docs/runtime.md.
//
// Most of the listed operators take the size of their work (a shape, repeats, pads, k) from an
// input that exported models hold as a constant: an Expand whose shape is an initializer does the
// same work for every request of a batch size (which the load-time timing covers). Such a node is
// not counted; control flow and ops whose work follows data values always are.
import { graphFacts, type GraphFacts, type NodeFacts } from '../core/graph-facts.js';

/** Matched by op_type in any domain (a custom op of one of these names is as likely to do the same). */
export const VALUE_DEPENDENT_OPS: ReadonlySet<string> = new Set([
  // Control flow: the trip count, the branch taken or the number of steps comes from the data.
  'Loop', 'Scan', 'If', 'SequenceMap',
  // com.microsoft generation loops: their length comes from an input (max_length).
  'BeamSearch', 'GreedySearch', 'Sampling', 'WhisperBeamSearch',
  // Boxes kept (so the work) follow the scores' values.
  'NonMaxSuppression',
  // Output size (so the work) taken from an input's values: SIZED_BY.
  'Range', 'ConstantOfShape', 'Expand', 'Tile', 'Resize', 'Upsample', 'Pad', 'OneHot', 'TopK',
  'MaxUnpool', 'Col2Im', 'CenterCropPad', 'DFT', 'STFT', 'MelWeightMatrix',
  'HannWindow', 'HammingWindow', 'BlackmanWindow',
]);

/**
 * For the ai.onnx operators whose work is sized by some inputs' values: the positions of those inputs
 * over every opset (from the ONNX operator specs). A node of one is counted only when one of them is
 * given and not a constant; older opsets' attributes (Pad's pads, TopK's k, Upsample's scales) are.
 */
const SIZED_BY: ReadonlyMap<string, readonly number[]> = new Map([
  ['Range', [0, 1, 2]], // start, limit, delta
  ['ConstantOfShape', [0]], // shape
  ['Expand', [1]], // shape
  ['Tile', [1, 2]], // repeats (opset 1: tiles, axis)
  ['Resize', [1, 2, 3]], // roi, scales, sizes (opset 10: scales)
  ['Upsample', [1]], // scales
  ['Pad', [1, 3]], // pads, axes (constant_value fills, it does not size)
  ['OneHot', [1]], // depth
  ['TopK', [1]], // K
  ['MaxUnpool', [2]], // output_shape
  ['Col2Im', [1, 2]], // image_shape, block_shape
  ['CenterCropPad', [1]], // shape
  ['DFT', [1, 2]], // dft_length, axis
  ['STFT', [1, 2, 3]], // frame_step, window, frame_length
  ['MelWeightMatrix', [0, 1, 2, 3, 4]],
  ['HannWindow', [0]], // size
  ['HammingWindow', [0]],
  ['BlackmanWindow', [0]],
]);

/**
 * Deterministic ai.onnx operators whose outputs are constants when all their inputs are (a pads
 * input built as Concat(Constant, Constant), a Cast of an initializer). Shape arithmetic on a
 * request's tensors is not followed: its inputs are not constants.
 */
const FOLDED = new Set([
  'Identity', 'Cast', 'CastLike', 'Reshape', 'Unsqueeze', 'Squeeze', 'Flatten', 'Concat', 'Gather', 'Slice',
  'Transpose', 'Shape', 'Size', 'Add', 'Sub', 'Mul', 'Div', 'Neg', 'Abs', 'Floor', 'Ceil', 'Min', 'Max',
  'ConstantOfShape', 'Range',
]);

function defaultDomain(node: NodeFacts): boolean {
  return node.domain === '' || node.domain === 'ai.onnx';
}

/** Whether a listed node's work depends on input values, given the names known to be constants where it is. */
function dependsOnValues(node: NodeFacts, constants: ReadonlySet<string>): boolean {
  const sizedBy = defaultDomain(node) ? SIZED_BY.get(node.opType) : undefined;
  // Control flow, NonMaxSuppression and any op of a custom domain (its inputs' meaning unknown).
  if (sizedBy === undefined) return true;
  return sizedBy.some((i) => {
    const input = node.inputs[i];
    // Absent or empty: an optional input not given.
    return input !== undefined && input !== '' && !constants.has(input);
  });
}

function outputsConstant(node: NodeFacts, constants: ReadonlySet<string>): boolean {
  if (!defaultDomain(node)) return false;
  if (node.opType === 'Constant') return true;
  return FOLDED.has(node.opType) && node.inputs.every((input) => input === '' || constants.has(input));
}

/**
 * The names constant in a graph: its initializers not also declared as its inputs (an input of an
 * initializer's name is a default a request may override), with the constants of the scope around
 * it (a subgraph may use an outer graph's names) less the names it declares as inputs.
 */
function graphConstants(graph: GraphFacts, outer: ReadonlySet<string>): Set<string> {
  const constants = new Set(outer);
  const inputs = new Set(graph.inputs.map((v) => v.name));
  for (const name of inputs) constants.delete(name);
  for (const t of graph.initializers) if (!inputs.has(t.name)) constants.add(t.name);
  return constants;
}

/**
 * The VALUE_DEPENDENT_OPS a model holds, anywhere: its graph, the subgraphs of its nodes'
 * attributes (a Loop's body, an If's branches, nested) and its model-local functions (read once per
 * load: graph-facts.ts), each but those sized by constants only (SIZED_BY). Rejects when the graph
 * cannot be read.
 */
export async function valueDependentOps(bytes: Uint8Array): Promise<string[]> {
  const { graph, functions } = await graphFacts(bytes);
  const found = new Set<string>();
  // Nodes in order (ONNX graphs are sorted: a name is made before it is used; an unsorted one only
  // finds fewer constants). `constants` is the scope's own copy.
  const visit = (nodes: NodeFacts[], constants: Set<string>): void => {
    for (const node of nodes) {
      if (VALUE_DEPENDENT_OPS.has(node.opType) && dependsOnValues(node, constants)) found.add(node.opType);
      let hasSubgraph = false;
      for (const attribute of node.attributes.values()) {
        for (const subgraph of attribute.graphs ?? []) {
          hasSubgraph = true;
          visit(subgraph.nodes, graphConstants(subgraph, constants));
        }
      }
      const constant = !hasSubgraph && outputsConstant(node, constants);
      for (const output of node.outputs) {
        if (constant) constants.add(output);
        else constants.delete(output);
      }
    }
  };
  visit(graph.nodes, graphConstants(graph, new Set()));
  // A function's inputs and attributes come from each call: only its own Constant nodes are known.
  for (const nodes of functions) visit(nodes, new Set());
  return [...found].sort();
}
