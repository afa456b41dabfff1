// What a model's load reads from its ONNX graph (declared ranks and whole names of its inputs and
// outputs, whether its rows stay apart, its value-dependent ops, its class labels), read in one walk
// of the bytes field by field (onnx-fields.ts). Only the fields those readers use are decoded: weights,
// a tree ensemble's arrays and any other large field are skipped by their length.
import { onnxFields, type OnnxFields } from './onnx-fields.js';

/** A graph input or output: its name, and whether its type is a tensor's that declares no shape at all (any rank). */
export interface ValueFacts {
  name: string;
  unshaped: boolean;
}

/** An initializer or a tensor attribute: its values only when a small integer tensor (a shape, axes). */
export interface TensorFacts {
  name: string;
  dims: number[];
  values?: number[];
}

/** What is read of an attribute: its int, the integer or string lists of LISTED names, its tensor, its subgraphs. */
export interface AttributeFacts {
  i?: number;
  ints?: number[];
  strings?: string[];
  tensor?: TensorFacts;
  graphs?: GraphFacts[];
}

export interface NodeFacts {
  opType: string;
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: Map<string, AttributeFacts>;
}

export interface GraphFacts {
  inputs: ValueFacts[];
  outputs: ValueFacts[];
  nodes: NodeFacts[];
  initializers: TensorFacts[];
}

export interface ModelFacts {
  /** The ai.onnx opset imported (1 when none is). */
  opset: number;
  graph: GraphFacts;
  /** The nodes of each model-local function. */
  functions: NodeFacts[][];
}

const INT32 = 6;
const INT64 = 7;
/** Integer tensors of more elements are not read: axes, shapes and indices that matter here are short. */
const MOST_VALUES = 64;
/**
 * The list attributes read (a tree ensemble's thousands of node ids are skipped unread): those an op's rows are judged
 * by (batch-rows.ts), and a classifier's labels and an ArgMax's axis (class-labels.ts).
 */
const LISTED = new Set(['axes', 'perm', 'starts', 'ends', 'value_ints', 'classlabels_strings', 'classlabels_ints', 'classlabels_int64s', 'axis']);

function int64(r: OnnxFields['r']): number {
  const v = r.int64() as number | { toString(): string };
  return typeof v === 'number' ? v : Number(v.toString());
}

/** Reads a repeated int64 field, packed (wire type 2) or not. */
function readInts(f: OnnxFields, wire: number, into: number[]): true {
  if (wire !== 2) {
    into.push(int64(f.r));
    return true;
  }
  return f.delimited((end) => {
    while (f.r.pos < end) into.push(int64(f.r));
  });
}

/** Walks once and caches per bytes object: one load asks for the facts of the same bytes several times. */
const read = new WeakMap<Uint8Array, Promise<ModelFacts>>();

/** The facts of an ONNX model's bytes; rejects when they cannot be read. The bytes must not change afterwards. */
export function graphFacts(bytes: Uint8Array): Promise<ModelFacts> {
  let facts = read.get(bytes);
  if (facts === undefined) {
    facts = readFacts(bytes);
    read.set(bytes, facts);
  }
  return facts;
}

async function readFacts(bytes: Uint8Array): Promise<ModelFacts> {
  const f = await onnxFields(bytes);
  const { r, fields, delimited } = f;
  const text = new TextDecoder();
  /** The length of the length-delimited field at the reader's position, left unread. */
  const lengthAhead = (): number => {
    const at = r.pos;
    const length = r.uint32();
    r.pos = at;
    return length;
  };

  const tensor = (end: number): TensorFacts => {
    const t: TensorFacts = { name: '', dims: [] };
    let type = 0;
    const typed: number[] = [];
    let tooMany = false;
    let raw: { at: number; length: number } | undefined;
    // TensorProto: dims 1, data_type 2, int32_data 5, int64_data 7, name 8, raw_data 9.
    fields(end, (field, wire) => {
      if (field === 1) return readInts(f, wire, t.dims);
      if (field === 2 && wire === 0) {
        type = r.int32();
        return true;
      }
      if ((field === 5 || field === 7) && typed.length <= MOST_VALUES) {
        // A packed list longer than MOST_VALUES varints (10 bytes at most each) can hold is skipped by its length.
        if (wire === 2 && lengthAhead() > MOST_VALUES * 10) {
          tooMany = true;
          return false;
        }
        return readInts(f, wire, typed);
      }
      if (field === 8 && wire === 2) {
        t.name = r.string();
        return true;
      }
      if (field === 9 && wire === 2) {
        const length = r.uint32();
        raw = { at: r.pos, length };
        r.skip(length);
        return true;
      }
      return false;
    });
    const count = t.dims.reduce((n, d) => n * d, 1);
    if ((type !== INT64 && type !== INT32) || count > MOST_VALUES) return t;
    if (raw !== undefined) {
      const size = type === INT64 ? 8 : 4;
      if (raw.length !== count * size) return t;
      const view = new DataView(bytes.buffer, bytes.byteOffset + raw.at, raw.length);
      t.values = Array.from({ length: count }, (_, i) => (size === 8 ? Number(view.getBigInt64(i * 8, true)) : view.getInt32(i * 4, true)));
    } else if (typed.length === count && !tooMany) t.values = typed;
    return t;
  };

  // AttributeProto: name 1, i 3, t 5, g 6, ints 8, strings 9, graphs 11. ONNX writes the name first; lists
  // met before any name are read all the same, kept when the name is a LISTED one.
  const attribute = (end: number, into: Map<string, AttributeFacts>): void => {
    let name = '';
    const a: AttributeFacts = {};
    const listed = () => name === '' || LISTED.has(name);
    fields(end, (field, wire) => {
      if (field === 1 && wire === 2) name = r.string();
      else if (field === 3 && wire === 0) a.i = int64(r);
      else if (field === 5 && wire === 2) return delimited((tensorEnd) => (a.tensor = tensor(tensorEnd)));
      else if ((field === 6 || field === 11) && wire === 2) {
        const subgraph = emptyGraph();
        (a.graphs ??= []).push(subgraph);
        return delimited((graphEnd) => graph(graphEnd, subgraph));
      }
      else if (field === 8 && listed()) return readInts(f, wire, (a.ints ??= []));
      else if (field === 9 && wire === 2 && listed()) (a.strings ??= []).push(text.decode(r.bytes()));
      else return false;
      return true;
    });
    if (!LISTED.has(name)) {
      delete a.ints;
      delete a.strings;
    }
    into.set(name, a);
  };

  // NodeProto: input 1, output 2, name 3, op_type 4, attribute 5, domain 7.
  const node = (end: number): NodeFacts => {
    const n: NodeFacts = { opType: '', domain: '', name: '', inputs: [], outputs: [], attributes: new Map() };
    fields(end, (field, wire) => {
      if (wire !== 2) return false;
      if (field === 1) n.inputs.push(r.string());
      else if (field === 2) n.outputs.push(r.string());
      else if (field === 3) n.name = r.string();
      else if (field === 4) n.opType = r.string();
      else if (field === 7) n.domain = r.string();
      else if (field === 5) return delimited((attributeEnd) => attribute(attributeEnd, n.attributes));
      else return false;
      return true;
    });
    return n;
  };

  // ValueInfoProto: name 1, type 2; TypeProto: tensor_type 1; TypeProto.Tensor: shape 2 (only looked for, then skipped).
  const valueInfo = (end: number): ValueFacts => {
    let name = '';
    let isTensor = false;
    let shaped = false;
    fields(end, (field, wire) => {
      if (wire !== 2) return false;
      if (field === 1) {
        name = r.string();
        return true;
      }
      if (field !== 2) return false;
      return delimited((typeEnd) => fields(typeEnd, (g, w) => {
        if (g !== 1 || w !== 2) return false;
        isTensor = true;
        return delimited((tensorEnd) => fields(tensorEnd, (h, x) => {
          if (h === 2 && x === 2) shaped = true;
          return false;
        }));
      }));
    });
    return { name, unshaped: isTensor && !shaped };
  };

  // GraphProto: node 1, initializer 5, input 11, output 12.
  const graph = (end: number, into: GraphFacts): void => fields(end, (field, wire) => {
    if (wire !== 2) return false;
    if (field === 1) return delimited((nodeEnd) => into.nodes.push(node(nodeEnd)));
    if (field === 5) return delimited((tensorEnd) => into.initializers.push(tensor(tensorEnd)));
    if (field === 11) return delimited((valueEnd) => into.inputs.push(valueInfo(valueEnd)));
    if (field === 12) return delimited((valueEnd) => into.outputs.push(valueInfo(valueEnd)));
    return false;
  });

  const facts: ModelFacts = { opset: 1, graph: emptyGraph(), functions: [] };
  // ModelProto: graph 7, opset_import 8 (OperatorSetIdProto: domain 1, version 2), functions 25 (FunctionProto: node 7).
  fields(bytes.length, (field, wire) => {
    if (wire !== 2) return false;
    if (field === 7) return delimited((end) => graph(end, facts.graph));
    if (field === 25) {
      const nodes: NodeFacts[] = [];
      facts.functions.push(nodes);
      return delimited((end) => fields(end, (g, w) => g === 7 && w === 2 && delimited((nodeEnd) => nodes.push(node(nodeEnd)))));
    }
    if (field !== 8) return false;
    return delimited((end) => {
      let domain = '';
      let version = 1;
      fields(end, (g, w) => {
        if (g === 1 && w === 2) domain = r.string();
        else if (g === 2 && w === 0) version = int64(r);
        else return false;
        return true;
      });
      if (domain === '' || domain === 'ai.onnx') facts.opset = version;
    });
  });
  return facts;
}

function emptyGraph(): GraphFacts {
  return { inputs: [], outputs: [], nodes: [], initializers: [] };
}
