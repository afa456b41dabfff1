// Operators whose work depends on the values of a run's inputs, not only on their shapes: a model
// holding one may be cheap on the zeros it is timed on at load and take seconds (or never end) on a
// real input. The hybrid runtime gives such a model no main-thread session (a run there blocks the
// event loop, health probes included, and no watchdog can stop it); its runs stay on the workers,
// where the run watchdog catches one that does not end. The list is in docs/runtime.md.
import { onnxFields } from '../core/onnx-fields.js';

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
 * attributes (a Loop's body, an If's branches, nested) and its model-local functions. Read field by
 * field (onnx-fields.ts): initializers and large attributes are skipped by their length.
 */
export async function valueDependentOps(bytes: Uint8Array): Promise<string[]> {
  const { r, fields, delimited } = await onnxFields(bytes);
  const found = new Set<string>();
  // NodeProto: op_type 4, attribute 5. AttributeProto: g 6, graphs 11 (GraphProto).
  const node = (end: number): void => fields(end, (field, wire) => {
    if (wire !== 2) return false;
    if (field === 4) {
      const op = r.string();
      if (VALUE_DEPENDENT_OPS.has(op)) found.add(op);
      return true;
    }
    return field === 5 && delimited((attrEnd) => fields(attrEnd, (f, w) => w === 2 && (f === 6 || f === 11) && delimited(graph)));
  });
  // GraphProto: node 1.
  const graph = (end: number): void => fields(end, (field, wire) => field === 1 && wire === 2 && delimited(node));
  // FunctionProto: node 7.
  const fn = (end: number): void => fields(end, (field, wire) => field === 7 && wire === 2 && delimited(node));
  // ModelProto: graph 7, functions 25.
  fields(bytes.length, (field, wire) => wire === 2 && ((field === 7 && delimited(graph)) || (field === 25 && delimited(fn))));
  return [...found].sort();
}
