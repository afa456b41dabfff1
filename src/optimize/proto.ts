// ONNX protobuf access through onnx-proto (protobufjs-generated classes), plus a small graph
// builder used by the rewrites. int64 fields decode as Long objects (protobufjs with `long`
// installed) or plain numbers; every read goes through toNumber/toBigInt so both work.
import onnxProto from 'onnx-proto';
import type { onnx as O } from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type ModelProto = O.ModelProto;
export type GraphProto = O.IGraphProto;
export type NodeProto = O.INodeProto;
export type AttributeProto = O.IAttributeProto;
export type TensorProto = O.ITensorProto;
export type ValueInfoProto = O.IValueInfoProto;

export const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

type IntLike = number | { toString(): string; toNumber?: () => number } | null | undefined;

export function toNumber(v: IntLike): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v.toNumber === 'function') return v.toNumber();
  return Number(v.toString());
}

export function toBigInt(v: IntLike): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') return BigInt(v);
  return BigInt(v.toString());
}

const utf8 = new TextDecoder();
const utf8enc = new TextEncoder();

export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** Typed read access to a node's attributes. */
export class Attrs {
  private readonly map = new Map<string, AttributeProto>();
  constructor(node: NodeProto) {
    for (const a of node.attribute ?? []) if (a.name) this.map.set(a.name, a);
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  names(): string[] {
    return [...this.map.keys()];
  }
  /** The attribute's floats (not copied: do not modify). */
  floats(name: string): number[] {
    const a = this.map.get(name);
    if (!a) return [];
    if (a.floats && a.floats.length > 0) return a.floats;
    if (a.t) return tensorToNumbers(a.t);
    return [];
  }
  ints(name: string): bigint[] {
    const a = this.map.get(name);
    return a?.ints ? a.ints.map((v) => toBigInt(v)) : [];
  }
  int(name: string, dflt: number): number {
    const a = this.map.get(name);
    return a && a.i !== undefined && a.i !== null ? toNumber(a.i) : dflt;
  }
  string(name: string, dflt: string): string {
    const a = this.map.get(name);
    return a?.s && a.s.length > 0 ? utf8.decode(a.s) : dflt;
  }
  strings(name: string): string[] {
    const a = this.map.get(name);
    return a?.strings ? a.strings.map((s) => utf8.decode(s)) : [];
  }
}

/** Numeric values of a float/double tensor (raw_data or typed fields). */
export function tensorToNumbers(t: TensorProto): number[] {
  const raw = t.rawData;
  if (raw && raw.length > 0) {
    const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
    if (t.dataType === DT.FLOAT) return Array.from(new Float32Array(buf));
    if (t.dataType === DT.DOUBLE) return Array.from(new Float64Array(buf));
  }
  if (t.floatData && t.floatData.length) return Array.from(t.floatData);
  if (t.doubleData && t.doubleData.length) return Array.from(t.doubleData);
  return [];
}

function rawBytes(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

export type ConstData =
  | { type: 'float32'; data: ArrayLike<number> }
  | { type: 'float64'; data: ArrayLike<number> }
  | { type: 'int64'; data: ArrayLike<bigint> }
  | { type: 'string'; data: string[] };

export function makeTensor(name: string, dims: number[], c: ConstData): TensorProto {
  switch (c.type) {
    case 'float32':
      return { name, dims, dataType: DT.FLOAT, rawData: rawBytes(Float32Array.from(c.data)) };
    case 'float64':
      return { name, dims, dataType: DT.DOUBLE, rawData: rawBytes(Float64Array.from(c.data)) };
    case 'int64':
      return { name, dims, dataType: DT.INT64, rawData: rawBytes(BigInt64Array.from(c.data)) };
    case 'string':
      return { name, dims, dataType: DT.STRING, stringData: c.data.map((s) => utf8enc.encode(s)) };
  }
}

export type AttrValue = number | string | number[] | { int: number } | { ints: number[] };

export function attr(name: string, v: AttrValue): AttributeProto {
  return makeAttr(name, v);
}

function makeAttr(name: string, v: AttrValue): AttributeProto {
  if (typeof v === 'string') return { name, type: AT.STRING, s: utf8enc.encode(v) };
  if (typeof v === 'number') return { name, type: AT.FLOAT, f: v };
  if (Array.isArray(v)) return { name, type: AT.FLOATS, floats: v };
  if ('int' in v) return { name, type: AT.INT, i: v.int };
  return { name, type: AT.INTS, ints: v.ints };
}

/**
 * Emits nodes and initializers for one rewrite. Names are prefixed with the original node's name
 * so the rewritten graph stays readable in Netron and names never collide.
 */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private counter = 0;
  constructor(private readonly prefix: string, private readonly taken: Set<string>) {}

  fresh(hint: string): string {
    let name: string;
    do name = `${this.prefix}/${hint}_${this.counter++}`;
    while (this.taken.has(name));
    this.taken.add(name);
    return name;
  }

  constant(hint: string, dims: number[], c: ConstData): string {
    const name = this.fresh(hint);
    this.initializers.push(makeTensor(name, dims, c));
    return name;
  }

  f32(hint: string, dims: number[], data: ArrayLike<number>): string {
    return this.constant(hint, dims, { type: 'float32', data });
  }

  f64(hint: string, dims: number[], data: ArrayLike<number>): string {
    return this.constant(hint, dims, { type: 'float64', data });
  }

  i64(hint: string, dims: number[], data: ArrayLike<bigint>): string {
    return this.constant(hint, dims, { type: 'int64', data });
  }

  /** Adds a node of any domain with explicit outputs and ready-made attributes. */
  raw(domain: string, opType: string, inputs: string[], outputs: string[], attribute: AttributeProto[]): void {
    this.nodes.push({ opType, domain, name: this.fresh(opType), input: inputs, output: outputs, attribute });
  }

  /** Adds a node; returns its (first) output name. `output` forces the output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    const out = output ?? this.fresh(opType.toLowerCase());
    this.nodes.push({
      opType,
      domain: '',
      name: this.fresh(`${opType}`),
      input: inputs,
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => makeAttr(k, v)),
    });
    return out;
  }
}
