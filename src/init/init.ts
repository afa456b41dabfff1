// `modelserve init`: writes a model folder — the model, a commented model.yaml that serves at
// once, and the scaler file if given — from what the model declares (inputs, outputs, types) and
// optional hints: a CSV sample (field names, types, examples, observed ranges, column order), field
// names, a scaler, class labels and a probability field.
import { copyFileSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { readScalerFile, scaleValueProblems } from '../config/scale-file.js';
import { readUserFile } from '../user-file.js';
import { notOnnxReason } from '../core/model-bytes.js';
import type { FieldType } from '../config/types.js';
import { CARRIED, SUPPORTED } from '../config/signature.js';
import { modelNameFrom } from '../config/schema.js';
import { laxValue } from '../validation/lax.js';
import { normalizeName, readSample, type Sample, type SampleColumn } from '../check/csv.js';
import { describeModel, signatureText, type TensorDescription } from '../inspect/inspect.js';

export interface InitOptions {
  model: string;
  /** Output folder; default models/<name>. */
  out?: string;
  name?: string;
  sample?: string;
  fields?: string[];
  scaler?: string;
  /** Class value -> label, e.g. {0: 'No_Rain', 1: 'Rain'}. */
  labels?: Record<string, string>;
  /** A response field holding one probability column: NAME or NAME:COLUMN. */
  probaField?: string;
  force?: boolean;
  /** Model bytes already in ONNX form (a converted XGBoost model) and the config lines that say so. */
  onnx?: { bytes: Uint8Array; configLines: string[]; featureNames?: string[]; missingAllowed?: boolean };
}

export interface InitResult {
  dir: string;
  configFile: string;
  notes: string[];
  /** Widths init had to guess (inputs of no declared shape): the likely cause when the check then fails. */
  guesses: string[];
}

export class InitError extends Error {}

/** What init says of a class-label output left unmapped: its own classes when the classifier names them (a string class is a name already). */
function labelsNote(label: { type: string; classes?: string[] }): string {
  const classes = label.classes;
  if (classes === undefined || classes.length === 0) return 'class labels are answered as the model\'s values; map them to names with --labels 0=No,1=Yes';
  if (label.type === 'string') return `class labels are answered as the model's own names (${classes.join(', ')}); rename them with --labels ${classes.map((c) => `${c}=NAME`).join(',')}`;
  return `class labels are answered as the model's values (${classes.join(', ')}); map them to names with --labels ${classes.map((c) => `${c}=NAME`).join(',')}`;
}

// The input element types a config can feed (config/signature.ts SUPPORTED) and the field type for each.
const FIELD_TYPE: Record<string, FieldType> = { float32: 'number', float64: 'number', int32: 'integer', int64: 'integer', string: 'string', bool: 'boolean' };

/** The column's own name when a config accepts it (so the sample's rows are valid requests as they are), else a cleaned one. */
export function fieldName(text: string): string {
  // __proto__ is the one identifier a config refuses (it would set objects' prototype).
  if (text === '__proto__') return 'proto';
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(text)) return text;
  const n = normalizeName(text);
  return n === '' ? 'x' : /^[0-9]/.test(n) ? `x_${n}` : n;
}

const yamlScalar = (v: number | string | boolean) => (typeof v === 'string' ? JSON.stringify(v) : String(v));
/**
 * A name (a tensor's, a field's, a file's) as a YAML key or value that reads back as that string:
 * plain when it is a word YAML keeps a string, else quoted. PyTorch names outputs '15', other
 * exporters 'y #2' or 'a: b': unquoted, those read back as a number, a comment or a mapping.
 */
const yamlName = (text: string) => (/^[A-Za-z_][A-Za-z0-9_./-]*$/.test(text) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(text) ? text : JSON.stringify(text));
/** `  key:` padded so that the comment after it starts at column 44, as the other lines' do. */
const keyLine = (key: string, comment: string) => `  ${`${yamlName(key)}:`.padEnd(40)} # ${comment}`;
const fmt = (x: number) => String(Number(x.toPrecision(10)));

/** The fixed row width of [N, k] (k), 1 for [N] / [N, 1], undefined when symbolic or not declared at all. */
function width(t: TensorDescription): number | undefined {
  if (t.shapeDeclared === false) return undefined;
  if (t.shape.length <= 1) return 1;
  const rest = t.shape.slice(1);
  return rest.every((d) => typeof d === 'number') ? (rest as number[]).reduce((a, b) => a * b, 1) : undefined;
}

interface PlannedField {
  name: string;
  type: FieldType;
  column?: SampleColumn;
}

/**
 * What init says of an input the graph declares no shape for: the number of fields it wrote is a
 * guess (the graph gives no width), the likely cause when serve's warm-up run then fails.
 */
function guessNote(tensor: TensorDescription, fields: readonly PlannedField[], from: string, single: boolean): string {
  const wrote = fields.length === 1 ? `one field (${fields[0]!.name})` : `${fields.length} fields`;
  const where = `${single ? '--fields a,b,c, or ' : ''}inputs.${yamlName(tensor.name)}.fields in model.yaml`;
  return `the graph declares no shape for input '${tensor.name}': init wrote ${wrote}${from}, a guess; list as many fields as the model takes (${where}), or serve the .onnx alone (no model.yaml) over the Open Inference Protocol`;
}

const listed = (names: string[]) => (names.length === 1 ? `column ${names[0]}` : `columns ${names.join(', ')}`);

/**
 * What a numeric input should know of the sample's columns: those read as numbers from decimal
 * commas (1,5 in a ;-separated CSV), and those of digits that are not numbers (1.234,5), read as
 * text — else a spreadsheet's export would feed other columns without a word.
 */
function sampleNumberNotes(sample: Sample): string[] {
  const notes: string[] = [];
  const comma = sample.columns.filter((c) => c.decimalComma).map((c) => c.name);
  if (comma.length > 0) notes.push(`the sample's ${listed(comma)} ${comma.length === 1 ? 'has' : 'have'} decimal commas (1,5): read as numbers`);
  const digits = sample.columns.filter((c) => !c.numeric && c.values.every((v) => v === undefined || /^[+-]?[\d.,' ]*\d[\d.,' ]*$/.test(String(v)))).map((c) => c.name);
  if (digits.length > 0) notes.push(`the sample's ${listed(digits)} ${digits.length === 1 ? 'is' : 'are'} not numbers as written (e.g. "${String(sample.columns.find((c) => c.name === digits[0])!.values.find((v) => v !== undefined))}": thousands separators?), so read as text, which no number field takes; write plain numbers such as 1234.5`);
  return notes;
}

function firstValue(col: SampleColumn): number | string | undefined {
  return col.values.find((v) => v !== undefined);
}

function fieldLines(f: PlannedField, sample: Sample | undefined, missingAllowed: boolean): string[] {
  const lines = [`  ${yamlName(f.name)}:`, `    type: ${f.type}`];
  if (missingAllowed) lines.push('    required: false                        # absent = a missing value (each split\'s default direction)');
  const col = f.column;
  if (col && f.type === 'boolean') {
    // A bool input's column is 0/1 or true/false (True/False from pandas): read as a request's value
    // is, so the example is true or false (1 made a config check refuses) and no range is suggested.
    const read = col.values.filter((v) => v !== undefined).map((v) => laxValue('boolean', v));
    const example = read.find((v) => typeof v === 'boolean');
    if (example !== undefined) lines.push(`    example: ${example}`);
    const count = (b: boolean) => read.filter((v) => v === b).length;
    const other = read.filter((v) => typeof v !== 'boolean').map(String);
    const missing = col.values.length - read.length;
    lines.push(`    # column ${col.name} of ${basename(sample!.file)}: ${count(true)} true, ${count(false)} false${other.length ? `, ${other.length} not booleans (e.g. ${JSON.stringify(other[0])}, a 422)` : ''}${missing ? `, ${missing} empty` : ''}`);
  } else if (col) {
    const ex = firstValue(col);
    if (ex !== undefined && (f.type === 'string' ? typeof ex === 'string' : typeof ex === 'number')) lines.push(`    example: ${yamlScalar(f.type === 'integer' ? Math.trunc(ex as number) : ex)}`);
    const missing = col.values.filter((v) => v === undefined).length;
    if (col.numeric) {
      const nums = col.values.filter((v): v is number => v !== undefined);
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of nums) { if (v < lo) lo = v; if (v > hi) hi = v; }
      lines.push(`    # column ${col.name} of ${basename(sample!.file)}: ${fmt(lo)} … ${fmt(hi)} over ${nums.length} rows${missing ? `, ${missing} empty` : ''}; to reject values outside that range, uncomment:`);
      lines.push(`    # minimum: ${fmt(lo)}`, `    # maximum: ${fmt(hi)}`);
    } else {
      const distinct = [...new Set(col.values.filter((v) => v !== undefined).map(String))];
      lines.push(`    # column ${col.name} of ${basename(sample!.file)}: ${distinct.length} distinct values${missing ? `, ${missing} empty` : ''}${distinct.length <= 20 ? `; to accept only those, uncomment:` : ''}`);
      if (distinct.length <= 20) lines.push(`    # enum: [${distinct.map((v) => JSON.stringify(v)).join(', ')}]`);
    }
  }
  return lines;
}

/** Why an output is left out of the config (one it cannot return), and what to do instead. */
function unanswered(o: TensorDescription): string {
  if (o.type === 'sequence' || o.type === 'map') return `the output '${o.name}' (a ${o.type}, e.g. skl2onnx's ZipMap probabilities) is not answered: only tensors are; export the model with options={'zipmap': False} for a probabilities tensor`;
  return `the output '${o.name}' (${o.type}) is not answered: modelserve returns ${[...CARRIED].join(', ')} tensors`;
}

/** `name`, or name_2, name_3, … when `taken` has it. */
function unique(name: string, taken: readonly string[]): string {
  let candidate = name;
  for (let i = 2; taken.includes(candidate); i++) candidate = `${name}_${i}`;
  return candidate;
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdirSync never returns where mkdir answers ENOENT
 * under a parent that exists (a path in /proc or /sys), retrying the parent forever.
 */
function makeDirectory(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) missing.unshift(d);
  if (missing.length === 0 && !statSync(dir).isDirectory()) throw new InitError(`cannot create the folder ${dir}: a file of that name exists`);
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new InitError(`cannot create the folder ${d}: ${e.code === 'ENOENT' ? `${dirname(d)} does not take new folders` : e.message}`);
    }
  }
}

/** init takes no config: it writes format: xgboost for a model given by its .json name. */
const XGBOOST_FIX = 'rename it to end in .json (model.json): init serves a .json file as an XGBoost model (format: xgboost)';

export function initModelFolder(options: InitOptions): InitResult {
  const notes: string[] = [];
  const modelBytes = options.onnx?.bytes ?? readUserFile(options.model, 'model');
  let d;
  try {
    d = describeModel(modelBytes, options.model);
  } catch (err) {
    throw new InitError(`${options.model} is not a valid ONNX model: ${notOnnxReason(modelBytes, XGBOOST_FIX) ?? (err as Error).message}`);
  }
  const name = modelNameFrom(options.name ?? (options.out ? basename(resolve(options.out)) : basename(options.model).replace(/\.[^.]*$/, '')));
  if (options.name !== undefined && name !== options.name) notes.push(`--name '${options.name}' is not a model name (lower-case letters, digits, - and _): the model is named '${name}'`);
  const dir = resolve(options.out ?? join('models', name));
  const configFile = join(dir, 'model.yaml');
  if (existsSync(configFile) && !options.force) throw new InitError(`${relative(process.cwd(), configFile)} exists; pass --force to overwrite it`);
  const sample = options.sample ? readSample(options.sample) : undefined;
  const scaler = options.scaler ? readScalerFile(options.scaler) : undefined;

  // Fields per ONNX input.
  const guesses: string[] = [];
  const guessed = new Set<string>();
  const guess = (tensor: TensorDescription, fields: PlannedField[], from: string) => {
    guessed.add(tensor.name);
    guesses.push(guessNote(tensor, fields, from, d.inputs.length === 1));
  };
  const inputs: Array<{ tensor: TensorDescription; fields: PlannedField[] }> = [];
  const byColumnName = new Map((sample?.columns ?? []).map((c) => [normalizeName(c.name), c]));
  const unsupported = d.inputs.filter((t) => !FIELD_TYPE[t.type]);
  if (unsupported.length > 0) throw new InitError(`the model's input ${unsupported.map((t) => `'${t.name}' (${t.type})`).join(', ')} cannot be fed from JSON fields (modelserve feeds ${[...SUPPORTED].join(', ')} inputs)${d.inputs.every((t) => CARRIED.has(t.type)) ? '; served from its .onnx file alone (no model.yaml), it takes tensors over the Open Inference Protocol' : ''}`);
  if (sample && d.inputs.some((t) => FIELD_TYPE[t.type] === 'number' || FIELD_TYPE[t.type] === 'integer')) notes.push(...sampleNumberNotes(sample));
  if (d.inputs.length === 1) {
    const tensor = d.inputs[0]!;
    const type = FIELD_TYPE[tensor.type]!;
    const k = width(tensor) ?? options.fields?.length ?? scaler?.mean.length;
    let fields: PlannedField[];
    if (options.fields) {
      fields = options.fields.map((f) => ({ name: fieldName(f), type, column: byColumnName.get(normalizeName(f)) }));
      const unknown = sample ? options.fields.filter((f) => !byColumnName.has(normalizeName(f))) : [];
      if (unknown.length > 0) throw new InitError(`--fields: the sample has no column ${unknown.join(', ')} (its columns: ${sample!.columns.map((c) => c.name).join(', ')})`);
    } else if (sample) {
      // A bool input takes the columns of booleans (0/1, true/false, True/False), as a request's values are read.
      const kind = type === 'string' ? '' : type === 'boolean' ? 'boolean ' : 'numeric ';
      const wanted = type === 'string' ? sample.columns : type === 'boolean' ? sample.columns.filter((c) => c.values.every((v) => v === undefined || typeof laxValue('boolean', v) === 'boolean')) : sample.columns.filter((c) => c.numeric);
      const n = k ?? wanted.length;
      if (wanted.length < n) throw new InitError(`the model's input '${tensor.name}' takes ${n} values per row but the sample has only ${wanted.length} ${kind}columns; name them with --fields`);
      fields = wanted.slice(0, n).map((c) => ({ name: fieldName(c.name), type, column: c }));
      const left = wanted.slice(n).map((c) => c.name);
      if (left.length > 0) notes.push(`the sample's ${left.length === 1 ? `column ${left[0]} is` : `columns ${left.join(', ')} are`} not fed (the input takes the first ${n} ${kind}columns, in the sample's order; choose others with --fields)`);
    } else if (options.onnx?.featureNames && options.onnx.featureNames.length === k) {
      fields = options.onnx.featureNames.map((f) => ({ name: fieldName(f), type }));
    } else {
      const n = k ?? 1;
      fields = n === 1 ? [{ name: fieldName(tensor.name), type }] : Array.from({ length: n }, (_, i) => ({ name: `x${i}`, type }));
    }
    if (k !== undefined && fields.length !== k) throw new InitError(`the model's input '${tensor.name}' has ${k} columns but ${fields.length} fields were given`);
    if (tensor.shapeDeclared === false && !options.fields && !scaler) guess(tensor, fields, sample ? ' from the sample\'s columns' : '');
    inputs.push({ tensor, fields });
  } else {
    // --fields names one input's columns: ignored here, the fields would silently keep other names.
    if (options.fields) throw new InitError(`--fields applies to a model with one input; this one has ${d.inputs.length} (${d.inputs.map((t) => `'${t.name}'`).join(', ')}), whose fields are named after them: rename them in model.yaml`);
    for (const tensor of d.inputs) {
      // No declared shape: one field, said to be a guess.
      const k = tensor.shapeDeclared === false ? 1 : width(tensor);
      if (k === undefined) throw new InitError(`the model has several inputs and '${tensor.name}' has no fixed width (shape [${tensor.shape.join(', ')}]); write inputs.${yamlName(tensor.name)}.fields by hand`);
      // An [N, k] input's fields are <input>_0 … <input>_(k-1). Two names that clean up alike ('x-1',
      // 'x_1') get 'x_1' and 'x_1_2': --fields names one input's columns only.
      const base = fieldName(tensor.name);
      const fields: PlannedField[] = [];
      for (const wanted of k === 1 ? [base] : Array.from({ length: k }, (_, i) => `${base}_${i}`)) {
        const name = unique(wanted, [...inputs.flatMap((i) => i.fields.map((f) => f.name)), ...fields.map((f) => f.name)]);
        fields.push({ name, type: FIELD_TYPE[tensor.type]!, column: byColumnName.get(normalizeName(name)) });
      }
      if (tensor.shapeDeclared === false) guess(tensor, fields, '');
      inputs.push({ tensor, fields });
    }
    if (options.scaler) throw new InitError('--scaler applies to a model with one [N, k] input');
  }
  const allFields = inputs.flatMap((i) => i.fields);
  const dup = allFields.find((f, i) => allFields.findIndex((g) => g.name === f.name) !== i);
  if (dup) throw new InitError(`two fields would be named '${dup.name}'; name them with --fields`);
  if (scaler && scaler.mean.length !== inputs[0]!.fields.length) {
    throw new InitError(`${options.scaler} has ${scaler.mean.length} mean values but the model's input '${inputs[0]!.tensor.name}' takes ${inputs[0]!.fields.length}`);
  }
  // The folder written would not load (its config names the copied file): said now, before anything is written.
  const scalerValues = scaler === undefined ? [] : scaleValueProblems(scaler.mean, scaler.scale, inputs[0]!.tensor.type);
  if (scalerValues.length > 0) throw new InitError(`${options.scaler}: ${scalerValues.join('; ')}`);

  // Response fields.
  // One value per row: not a scalar, nor of a fixed length past 1 (Shape(x) is an int64 [2], no class label).
  const perRow = (o: TensorDescription) => o.shapeDeclared === false || (o.shape.length >= 1 && !(typeof o.shape[0] === 'number' && o.shape[0] > 1));
  const labelOut = d.outputs.find((o) => (o.type === 'int64' || o.type === 'string') && width(o) === 1 && (o.classes !== undefined || perRow(o)));
  const probaOut = d.outputs.find((o) => o !== labelOut && (o.type === 'float32' || o.type === 'float64') && o.shape.length === 2);
  const outputLines: string[] = [];
  if (options.labels) {
    if (!labelOut) throw new InitError(`--labels: the model has no class-label output (an int64 or string [N] output; its outputs: ${d.outputs.map((o) => o.name).join(', ')})`);
    // A value the output never holds would never be mapped: answered as the model's value, silently.
    const shown = (values: string[]) => values.map((v) => (labelOut.type === 'string' ? JSON.stringify(v) : v)).join(', ');
    const never = Object.keys(options.labels).filter((k) => (labelOut.classes ? !labelOut.classes.includes(k) : labelOut.type === 'int64' && !/^-?[0-9]+$/.test(k)));
    if (never.length > 0) {
      const holds = labelOut.classes ? `its classes: ${shown(labelOut.classes)}` : 'its values are integers';
      throw new InitError(`--labels: the class-label output '${labelOut.name}' (${labelOut.type}) never holds ${shown(never)} (${holds})`);
    }
    const map = Object.entries(options.labels).map(([k, v]) => `${JSON.stringify(k)}: ${yamlScalar(v)}`).join(', ');
    outputLines.push(keyLine('prediction', 'the class label'), `    from: ${yamlName(labelOut.name)}`, `    map: { ${map} }`);
  }
  if (options.probaField) {
    const [field, col] = options.probaField.split(':');
    if (!probaOut) throw new InitError(`--proba-field: the model has no probability output (a float [N, C] output; its outputs: ${d.outputs.map((o) => o.name).join(', ')})`);
    const classes = width(probaOut);
    const column = col !== undefined ? Number(col) : classes === 2 ? 1 : NaN;
    if (col !== undefined && Number.isInteger(column) && column >= 0 && classes !== undefined && column >= classes) throw new InitError(`--proba-field: column ${column} is past the output '${probaOut.name}', whose ${classes} columns are 0 to ${classes - 1}`);
    if (!Number.isInteger(column) || column < 0) throw new InitError(`--proba-field: give the column as NAME:COLUMN (the output '${probaOut.name}' has ${classes ?? 'an unknown number of'} columns)`);
    outputLines.push(keyLine(unique(fieldName(field!), options.labels ? ['prediction'] : []), `the probability of class ${column}`), `    from: ${yamlName(probaOut.name)}`, `    column: ${column}`);
  }
  if (outputLines.length === 0) {
    const answered: string[] = [];
    for (const o of d.outputs) {
      if (!CARRIED.has(o.type)) {
        notes.push(unanswered(o));
        continue;
      }
      const field = unique(fieldName(o.name), answered);
      answered.push(field);
      outputLines.push(keyLine(field, signatureText(o)), `    from: ${yamlName(o.name)}`);
    }
    if (labelOut) notes.push(labelsNote(labelOut));
  }
  if (outputLines.length === 0) throw new InitError(`the model has no tensor output modelserve can answer with: ${d.outputs.map(unanswered).join('; ')}`);

  // The folder: the model, the scaler, the config.
  makeDirectory(dir);
  const modelFile = basename(options.model);
  if (resolve(options.model) !== join(dir, modelFile)) {
    copyFileSync(options.model, join(dir, modelFile));
    // External data: the weights' files, found relative to the model file, go with it.
    for (const file of (d.externalData ?? []).filter((f) => !isAbsolute(f) && !f.split(/[\\/]/).includes('..'))) {
      makeDirectory(dirname(join(dir, file)));
      copyFileSync(join(dirname(options.model), file), join(dir, file));
    }
  }
  let scalerFile: string | undefined;
  if (options.scaler) {
    scalerFile = basename(options.scaler);
    if (resolve(options.scaler) !== join(dir, scalerFile)) copyFileSync(options.scaler, join(dir, scalerFile));
  }
  const lines = [
    `# Written by \`modelserve init ${basename(options.model)}\`${sample ? ` from the sample ${basename(sample.file)}` : ''}. Check it with`,
    `# \`modelserve check ${relative(process.cwd(), dir) || '.'}${sample ? ` --sample ${relative(process.cwd(), sample.file)}` : ''}\`; the keys are explained in the README's "Concepts".`,
    `name: ${yamlName(name)}`,
    'version: "1"',
    `model: ${yamlName(modelFile)}`,
    ...(options.onnx?.configLines ?? []),
    // Every field optional (XGBoost's missing values): a misspelt name would be a silent missing value.
    ...(options.onnx?.missingAllowed ? ['strict: true                               # an unknown field is a 422 (every field is optional: a misspelt one would be missing)'] : []),
    'fields:                                    # the request\'s JSON fields',
    ...allFields.flatMap((f) => fieldLines(f, sample, options.onnx?.missingAllowed ?? false)),
    'inputs:                                    # how the fields become the model\'s inputs',
  ];
  for (const { tensor, fields } of inputs) {
    lines.push(keyLine(tensor.name, `${signatureText(tensor)}${guessed.has(tensor.name) ? ': the fields are a guess, see the note below' : ''}`));
    lines.push(`    fields: [${fields.map((f) => yamlName(f.name)).join(', ')}]`);
    // Several string or boolean fields go into one tensor only of that type, which the config must say.
    if (fields.length > 1 && (tensor.type === 'string' || tensor.type === 'bool')) lines.push(`    type: ${tensor.type}`);
    if (scalerFile) lines.push(`${`    scale: { file: ${yamlName(scalerFile)} }`.padEnd(42)} # (x - mean) / scale per column, from the scaler's file`);
  }
  if (!scaler && inputs.length === 1 && inputs[0]!.fields.length > 1 && FIELD_TYPE[inputs[0]!.tensor.type] === 'number') {
    lines.push('    # If the model was trained on standard-scaled data, add its scaler (forgetting it makes most answers the same):', '    # scale: { file: scaler.json }');
  }
  lines.push('outputs:                                   # the response\'s fields', ...outputLines);
  for (const note of [...guesses, ...notes]) lines.push(`# note: ${note}`);
  writeFileSync(configFile, `${lines.join('\n')}\n`);
  return { dir, configFile, notes: [...guesses, ...notes], guesses };
}
