// Compiles, once per model at startup, the validator for a predict request body: one object of
// fields, or an array of them. Errors come out in FastAPI/pydantic-1 shape so that clients written
// against the seeds' services see the same 422 bodies.
import { Ajv, type ErrorObject } from 'ajv';
import type { FieldSpec, ModelConfig } from '../config/types.js';
import type { ElementType, ModelSignature } from '../runtime/types.js';
import { laxValue } from './lax.js';

export type Row = Record<string, unknown>;

export interface ValidationIssue {
  loc: Array<string | number>;
  msg: string;
  type: string;
  ctx?: Record<string, unknown>;
}

export type ValidationResult = { ok: true; rows: Row[]; batch: boolean } | { ok: false; issues: ValidationIssue[] };

export type RequestValidator = (body: unknown) => ValidationResult;

// The row schemas are generated here from validated configs, so the meta-schema is not needed (cold start).
const AJV_OPTIONS = { allErrors: true, strict: false, strictNumbers: true, useDefaults: true, meta: false, validateSchema: false } as const;

/**
 * Implicit bounds when a config gives none: a number must stay finite as a float32 (1e300 is a
 * finite JSON number but Infinity in a float32 tensor), an integer must be exact as an int64.
 */
const IMPLICIT_LIMIT: Partial<Record<FieldSpec['type'], number>> = { number: 3.4028234663852886e38, integer: Number.MAX_SAFE_INTEGER };

/** A field's bounds: the config's, else the implicit ones of its type (none for strings and booleans). */
export function boundsOf(f: Pick<FieldSpec, 'type' | 'minimum' | 'maximum'>): { minimum: number | undefined; maximum: number | undefined } {
  const limit = IMPLICIT_LIMIT[f.type];
  return { minimum: f.minimum ?? (limit === undefined ? undefined : -limit), maximum: f.maximum ?? limit };
}

/**
 * The number a number or integer field's own bounds allow that is nearest 0 (0 itself when they
 * allow it), undefined when they allow none (an integer between 0.5 and 0.7). Examples built from
 * the bounds use it: 0 for a field with only `maximum: -5` was refused by its own schema. Nearest 0,
 * so that it lies within any int32/int64 input whenever some value of the field does.
 */
export function allowedNumber(f: Pick<FieldSpec, 'type' | 'minimum' | 'maximum'>): number | undefined {
  const { minimum = -Infinity, maximum = Infinity } = boundsOf(f);
  const integer = f.type === 'integer';
  const value = minimum > 0 ? (integer ? Math.ceil(minimum) : minimum) : maximum < 0 ? (integer ? Math.floor(maximum) : maximum) : 0;
  return value >= minimum && value <= maximum ? value : undefined;
}

/**
 * What an integer tensor holds: a value past it wrapped around as it was written (3e9 fed an int32
 * input as -1294967296, -1e19 an int64 one as 8446744073709551616), a silent wrong answer. An int64
 * takes every double in [-2^63, 2^63): its largest below 2^63 is 2^63 - 1024.
 */
export const TENSOR_RANGE: Partial<Record<ElementType, [number, number]>> = { int32: [-(2 ** 31), 2 ** 31 - 1], int64: [-(2 ** 63), 2 ** 63 - 1024] };

/**
 * Each field's bounds: boundsOf, narrowed to what the model's integer inputs it feeds hold when
 * the signature is known (the config alone, as OpenAPI describes it, otherwise).
 */
function fieldBounds(config: ModelConfig, signature?: ModelSignature): Map<string, { minimum: number | undefined; maximum: number | undefined }> {
  const bounds = new Map(config.fields.map((f) => [f.name, boundsOf(f)]));
  for (const t of config.tensors) {
    const range = TENSOR_RANGE[signature?.inputs.find((i) => i.name === t.name)?.type as ElementType];
    if (range === undefined) continue;
    for (const name of t.fields) {
      const b = bounds.get(name);
      if (b === undefined) continue;
      b.minimum = Math.max(b.minimum ?? range[0], range[0]);
      b.maximum = Math.min(b.maximum ?? range[1], range[1]);
    }
  }
  return bounds;
}

/** A string with no U+0000 (see rowSchema). */
const NO_NUL = '^[^\\u0000]*$';

export function rowSchema(config: ModelConfig, signature?: ModelSignature): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const bounds = fieldBounds(config, signature);
  for (const f of config.fields) {
    const p: Record<string, unknown> = { type: f.type };
    const { minimum, maximum } = bounds.get(f.name)!;
    if (minimum !== undefined) p.minimum = minimum;
    if (maximum !== undefined) p.maximum = maximum;
    if (f.enum) p.enum = f.enum;
    // onnxruntime-node ends a string tensor's element at its first NUL: the model would get a cut value.
    if (f.type === 'string') p.pattern = NO_NUL;
    if (f.default !== undefined) p.default = f.default;
    properties[f.name] = p;
  }
  return {
    type: 'object',
    properties,
    required: config.fields.filter((f) => f.required).map((f) => f.name),
    additionalProperties: !config.strict,
  };
}

const TYPE_ERRORS: Record<FieldSpec['type'], { msg: string; type: string }> = {
  number: { msg: 'value is not a valid float', type: 'type_error.float' },
  integer: { msg: 'value is not a valid integer', type: 'type_error.integer' },
  string: { msg: 'str type expected', type: 'type_error.str' },
  boolean: { msg: 'value could not be parsed to a boolean', type: 'type_error.bool' },
};

function issueFor(error: ErrorObject, prefix: ReadonlyArray<string | number>, row: Row, fields: Map<string, FieldSpec>): ValidationIssue {
  const field = error.instancePath.split('/')[1];
  const loc = field === undefined ? [...prefix] : [...prefix, field];
  const spec = field === undefined ? undefined : fields.get(field);
  switch (error.keyword) {
    case 'required':
      return { loc: [...prefix, String(error.params.missingProperty)], msg: 'field required', type: 'value_error.missing' };
    case 'additionalProperties':
      return { loc: [...prefix, String(error.params.additionalProperty)], msg: 'extra fields not permitted', type: 'value_error.extra' };
    case 'type': {
      if (field === undefined) return { loc, msg: 'value is not a valid dict', type: 'type_error.dict' };
      const value = row[field];
      if (typeof value === 'number' && !Number.isFinite(value)) return { loc, msg: 'value is not a finite number', type: 'value_error.number.not_finite' };
      return { loc, ...TYPE_ERRORS[spec?.type ?? 'number'] };
    }
    case 'minimum':
      return { loc, msg: `ensure this value is greater than or equal to ${error.params.limit}`, type: 'value_error.number.not_ge', ctx: { limit_value: error.params.limit } };
    case 'maximum':
      return { loc, msg: `ensure this value is less than or equal to ${error.params.limit}`, type: 'value_error.number.not_le', ctx: { limit_value: error.params.limit } };
    case 'pattern':
      return { loc, msg: 'string contains a NUL character (\\u0000), which the model\'s string input cannot hold (it would be cut there)', type: 'value_error.str.nul' };
    case 'enum': {
      const allowed = (error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ');
      return { loc, msg: `value is not a valid enumeration member; permitted: ${allowed}`, type: 'type_error.enum', ctx: { enum_values: error.params.allowedValues } };
    }
    default:
      return { loc, msg: error.message ?? 'invalid value', type: `value_error.${error.keyword}` };
  }
}

/**
 * Most issues a 422 lists. Each issue is ~80 bytes of JSON and a row can be 2 (`{}` missing
 * every field), so listing them all let a 900 KB body of empty rows get a 196 MB answer (and the
 * memory to build it); past this many, the rest of the rows are not checked.
 */
export const MAX_ISSUES = 100;
/** The type of the last issue of a list cut at MAX_ISSUES. */
export const TOO_MANY_ERRORS = 'value_error.too_many_errors';

/** The first MAX_ISSUES issues and one saying that the list was cut (and how many rows were not checked). */
function tooMany(issues: ValidationIssue[], uncheckedRows: number, rows: number): ValidationIssue[] {
  const shown = issues.slice(0, MAX_ISSUES);
  shown.push({
    loc: ['body'],
    msg: `too many errors: the first ${MAX_ISSUES} are listed${uncheckedRows > 0 ? `; ${uncheckedRows} of the ${rows} rows were not checked` : ''}`,
    type: TOO_MANY_ERRORS,
    ctx: { limit_value: MAX_ISSUES },
  });
  return shown;
}

/** A one-row body's issue locations start here (copied into each issue: shared, not made per request). */
const BODY: readonly string[] = ['body'];

export function compileRequestValidator(config: ModelConfig, signature?: ModelSignature): RequestValidator {
  // An Ajv of its own: one Ajv keeps every schema it compiled and its code for good, so a shared one
  // grew with each model load (~15 KB a load: thousands of loads and evictions under a memory budget).
  const validateRow = new Ajv(AJV_OPTIONS).compile(rowSchema(config, signature));
  const fields = new Map(config.fields.map((f) => [f.name, f]));
  const lax = config.lax ? config.fields : [];
  const strict = config.strict === true;
  // A field named like a member of every object (constructor, toString…) would read that member
  // when the row lacks it: an own undefined makes it missing for the checks and the encoders.
  const inherited = config.fields.map((f) => f.name).filter((name) => name in Object.prototype);

  function checkRow(row: unknown, prefix: ReadonlyArray<string | number>, issues: ValidationIssue[]): row is Row {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      issues.push({ loc: [...prefix], msg: 'value is not a valid dict', type: 'type_error.dict' });
      return false;
    }
    const r = row as Row;
    // JSON.parse keeps a "__proto__" key as an own property; unless strict mode reports it as an
    // extra field, drop it so that no later copy of the row can turn it into a prototype.
    if (!strict && Object.hasOwn(r, '__proto__')) delete r['__proto__'];
    if (strict) {
      // ajv (allErrors) would report every extra key, one issue each: a row of 80,000 keys made an
      // 80,000-issue answer. Past the list's limit, name that many and skip the schema.
      const extra = Object.keys(r).filter((key) => !fields.has(key));
      if (extra.length > MAX_ISSUES) {
        for (const key of extra.slice(0, MAX_ISSUES + 1)) issues.push({ loc: [...prefix, key], msg: 'extra fields not permitted', type: 'value_error.extra' });
        return false;
      }
    }
    for (const name of inherited) if (!Object.hasOwn(r, name)) r[name] = undefined;
    for (const f of lax) {
      const v = r[f.name];
      if (v !== undefined) r[f.name] = laxValue(f.type, v);
    }
    if (validateRow(r)) return true;
    for (const error of validateRow.errors ?? []) issues.push(issueFor(error, prefix, r, fields));
    return false;
  }

  return (body) => {
    const issues: ValidationIssue[] = [];
    if (Array.isArray(body)) {
      if (body.length === 0) return { ok: false, issues: [{ loc: ['body'], msg: 'ensure this value has at least 1 items', type: 'value_error.list.min_items', ctx: { limit_value: 1 } }] };
      for (let i = 0; i < body.length; i++) {
        checkRow(body[i], ['body', i], issues);
        const unchecked = body.length - 1 - i;
        if (issues.length > MAX_ISSUES || (issues.length === MAX_ISSUES && unchecked > 0)) return { ok: false, issues: tooMany(issues, unchecked, body.length) };
      }
      return issues.length ? { ok: false, issues } : { ok: true, rows: body as Row[], batch: true };
    }
    if (checkRow(body, BODY, issues)) return { ok: true, rows: [body], batch: false };
    return { ok: false, issues: issues.length > MAX_ISSUES ? tooMany(issues, 0, 1) : issues };
  };
}

/** One field's values as a column of plain numbers (an OIP input tensor). */
export type NumberColumn = ArrayLike<number>;

/**
 * A columnar shortcut for tensors (OIP): true when every field has a column and every value in
 * it passes exactly what the row validator would check (a finite number — an integer for an
 * integer field — within the field's bounds), so the columns can be encoded as they are. False
 * means "take the row path", which gives the same rows and, for bad values, the errors. Undefined
 * for a config whose fields need more than numbers and bounds (strings, booleans, enums, lax
 * conversions of non-integers): those always take the row path.
 */
export function compileColumnCheck(config: ModelConfig, signature?: ModelSignature): ((columns: ReadonlyMap<string, NumberColumn>) => boolean) | undefined {
  if (config.fields.some((f) => (f.type !== 'number' && f.type !== 'integer') || f.enum !== undefined)) return undefined;
  // Numbers and integers always have both bounds (boundsOf).
  const bounds = fieldBounds(config, signature);
  const checks = config.fields.map((f) => ({ name: f.name, integer: f.type === 'integer', min: bounds.get(f.name)!.minimum!, max: bounds.get(f.name)!.maximum! }));
  return (columns) => {
    for (const { name, integer, min, max } of checks) {
      const column = columns.get(name);
      if (column === undefined) return false;
      for (let i = 0; i < column.length; i++) {
        const v = column[i]!;
        // NaN fails the comparison; a bound from YAML may be .inf, hence the finite check.
        if (!(v >= min && v <= max) || !Number.isFinite(v) || (integer && !Number.isInteger(v))) return false;
      }
    }
    return true;
  };
}
