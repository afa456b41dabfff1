// Reads an ONNX model field by field with protobufjs's Reader: what a caller wants is read, the rest
// (a tree ensemble's thousands of numbers, initializers' weights) is skipped by its length, never decoded
// (decoding the whole loan model took ~100 ms of its load).
import type { Reader } from 'protobufjs';

export interface OnnxFields {
  r: Reader;
  /** Calls `visit` for each field of the message ending at `end`; what it leaves unread is skipped. */
  fields(end: number, visit: (field: number, wire: number) => boolean): void;
  /** Reads the length-delimited message at the reader's position with `read(its end)`; true, as `visit` returns for a field it read. */
  delimited(read: (end: number) => void): true;
}

export async function onnxFields(bytes: Uint8Array): Promise<OnnxFields> {
  const { Reader } = (await import('protobufjs/minimal.js')).default;
  const r = Reader.create(bytes);
  return {
    r,
    fields(end, visit) {
      while (r.pos < end) {
        const tag = r.uint32();
        if (!visit(tag >>> 3, tag & 7)) r.skipType(tag & 7);
      }
    },
    delimited(read) {
      read(r.uint32() + r.pos);
      return true;
    },
  };
}
