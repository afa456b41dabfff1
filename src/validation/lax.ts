// pydantic 1 "lax" parsing, which the seeds' clients rely on: a value of the wrong JSON type is
// converted when pydantic 1 would have converted it; anything else is left for the schema to reject.
import type { FieldType } from '../config/types.js';

const TRUE_WORDS = new Set(['1', 'on', 't', 'true', 'y', 'yes']);
const FALSE_WORDS = new Set(['0', 'off', 'f', 'false', 'n', 'no']);
const NUMBER_LITERAL = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
const NON_FINITE_LITERAL = /^\s*[+-]?(nan|inf|infinity)\s*$/i;

export function laxValue(type: FieldType, value: unknown): unknown {
  switch (type) {
    case 'number':
      if (typeof value === 'string') {
        if (NUMBER_LITERAL.test(value)) return Number(value);
        // pydantic accepts "nan"/"inf": turn them into numbers so the finite check names them.
        if (NON_FINITE_LITERAL.test(value)) return value.trim().replace(/^[+]/, '').toLowerCase().startsWith('-') ? -Infinity : value.toLowerCase().includes('nan') ? NaN : Infinity;
        return value;
      }
      if (typeof value === 'boolean') return value ? 1 : 0;
      return value;
    case 'integer':
      if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) return Number(value);
      if (typeof value === 'number' && Number.isFinite(value)) return Math.trunc(value);
      if (typeof value === 'boolean') return value ? 1 : 0;
      return value;
    case 'string':
      if (typeof value === 'boolean') return value ? 'True' : 'False';
      if (typeof value === 'number' && Number.isFinite(value)) return String(value);
      return value;
    case 'boolean':
      if (typeof value === 'number') return value === 1 ? true : value === 0 ? false : value;
      if (typeof value === 'string') {
        const word = value.trim().toLowerCase();
        if (TRUE_WORDS.has(word)) return true;
        if (FALSE_WORDS.has(word)) return false;
      }
      return value;
  }
}
