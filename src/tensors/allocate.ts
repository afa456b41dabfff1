import type { TensorValues } from '../runtime/types.js';

/** A zeroed tensor buffer of `length` elements of an ONNX element type; undefined for a type modelserve cannot feed. */
export function allocateTensor(type: string, length: number): TensorValues | undefined {
  switch (type) {
    case 'float32': return new Float32Array(length);
    case 'float64': return new Float64Array(length);
    case 'int8': return new Int8Array(length);
    case 'int16': return new Int16Array(length);
    case 'int32': return new Int32Array(length);
    case 'int64': return new BigInt64Array(length);
    case 'uint8': return new Uint8Array(length);
    case 'uint16': return new Uint16Array(length);
    case 'uint32': return new Uint32Array(length);
    case 'uint64': return new BigUint64Array(length);
    case 'bool': return new Uint8Array(length);
    case 'string': return new Array<string>(length).fill('');
    default: return undefined;
  }
}
