// `scale: {file: scaler.json}`: a StandardScaler's mean and scale read from a JSON file (relative
// to the model folder) instead of copied into the config. Runs before the cross-field checks, which
// then see plain mean/scale arrays; a problem names the file and leaves the input unscaled.
import { isAbsolute, relative, resolve } from 'node:path';
import { fileForClients, type ProblemAt } from './load.js';
import { jsonSyntaxReason, notUtf8Reason, readUserFile, stripBom, unreadableReason, UserFileError } from '../user-file.js';

interface LooseScale { mean?: number[]; scale?: number[]; file?: string }

/** A JSON value in words, for a message: null, a list, a string, 1e999's Infinity. */
function described(value: unknown): string {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'string' ? 'a string' : 'an object';
}

const EXPECTED = 'expected {"mean": [numbers], "scale": [numbers]}';

/**
 * What is wrong with a scaler file, said of the file as named (`said`: its message names it `shown`). `forClients`: as
 * API clients read it — the file named as they may read it, without the text JSON.parse quotes of it (jsonSyntaxReason).
 */
export class ScalerFileError extends Error {
  readonly forClients: (file: string) => string;
  constructor(readonly said: (file: string) => string, shown: string, forClients = said, options?: ErrorOptions) {
    super(said(shown), options);
    this.forClients = forClients;
  }
}

/**
 * Reads `{"mean": [...], "scale": [...]}` (scikit-learn's `mean_`/`scale_` spelling also works). `shown`: the file
 * as messages name it (init: as given; a config's scale.file: as the config beside it is named).
 */
export function readScalerFile(path: string, shown = path): { mean: number[]; scale: number[] } {
  const bytes = readUserFile(path, 'scaler');
  const file = shown;
  // Read as UTF-8, UTF-16 would be "not valid JSON: Unexpected token '?'".
  const notUtf8 = notUtf8Reason(bytes);
  if (notUtf8 !== undefined) throw new ScalerFileError((f) => `${f} ${notUtf8}`, file);
  let json: unknown;
  const text = stripBom(bytes.toString('utf8'));
  try {
    json = JSON.parse(text);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    // JSON.parse's message names no file and quotes the text it stopped at (binary bytes, line breaks).
    const { message, forClients } = jsonSyntaxReason(err, text);
    throw new ScalerFileError((f) => `${f} is not valid JSON: ${message}`, file, (f) => `${f} is not valid JSON: ${forClients}`, { cause: err });
  }
  // Every message names the file: the key it is reported at (scale.file) may be far from it.
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new ScalerFileError((f) => `${f} holds ${described(json)}; ${EXPECTED}`, file);
  const object = json as Record<string, unknown>;
  const problems: string[] = [];
  const read = (key: 'mean' | 'scale'): number[] | undefined => {
    const name = [key, `${key}_`].find((k) => Object.hasOwn(object, k));
    const value = name === undefined ? undefined : object[name];
    if (name === undefined) problems.push(`it has no ${key}`);
    else if (!Array.isArray(value)) problems.push(`${name} is ${described(value)}, not a list of numbers`);
    else {
      const bad = value.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
      if (bad < 0) return value as number[];
      problems.push(`${name}[${bad}] is ${described(value[bad])}, not a finite number`);
    }
    return undefined;
  };
  const mean = read('mean');
  const scale = read('scale');
  if (!mean || !scale) throw new ScalerFileError((f) => `${f}: ${problems.join('; ')}; ${EXPECTED}`, file);
  return { mean, scale };
}

/**
 * What is wrong with a scaler's values for a tensor of `type` (default float32): the encoder
 * multiplies by 1/scale, so a scale that is 0 in effect (1e-320: its reciprocal overflows) or a
 * mean so large that -mean/scale does turn every value to infinity, which the model then answered
 * as if it were data. A negative scale is no standard deviation (StandardScaler's scale_ is above 0).
 */
export function scaleValueProblems(mean: readonly number[], scale: readonly number[], type?: string): string[] {
  const float64 = type === 'float64';
  const holds = (v: number) => Number.isFinite(float64 ? v : Math.fround(v));
  const what = float64 ? 'a float64 holds (±1.8e308)' : 'a float32 holds (±3.4e38)';
  const problems: string[] = [];
  scale.forEach((s, i) => {
    if (s === 0) problems.push(`scale[${i}] is 0`);
    else if (s < 0) problems.push(`scale[${i}] is ${s}: a scale is a standard deviation (StandardScaler's scale_), above 0`);
    else if (!holds(1 / s)) problems.push(`scale[${i}] is ${s}, so small that dividing by it is past what ${what}: every scaled value would be infinite`);
    else if (i < mean.length && !holds(mean[i]! / s)) problems.push(`mean[${i}] is ${mean[i]} with scale[${i}] ${s}: a value of 0 scales to ${-mean[i]! / s}, past what ${what}`);
  });
  return problems;
}

/** Replaces every `scale.file` under `inputs` by the file's mean and scale, reporting each problem through `at`. */
export function resolveScaleFiles(dir: string, inputs: Record<string, { fields: string[]; type?: string; scale?: LooseScale }>, at: ProblemAt): void {
  for (const [name, tensor] of Object.entries(inputs)) {
    const s = tensor.scale;
    if (!s) continue;
    const path = `inputs.${name}.scale`;
    if (s.file === undefined) {
      if (!s.mean || !s.scale) {
        at(path, 'give file (a scaler JSON file) or both mean and scale');
        delete tensor.scale;
        continue;
      }
      // The schema refuses a 0 written here (and a value that is no number: nothing to say of it).
      if (Array.isArray(s.mean) && Array.isArray(s.scale) && [...s.mean, ...s.scale].every((v) => Number.isFinite(v))) {
        for (const problem of scaleValueProblems(s.mean, s.scale, tensor.type)) if (!problem.endsWith(' is 0')) at(path, problem);
      }
      continue;
    }
    if (s.mean || s.scale) {
      at(path, 'give either file or mean and scale, not both');
      delete tensor.scale;
      continue;
    }
    const file = resolve(dir, s.file);
    // Named as the config is (relative to the working directory); an absolute scale.file as written. API clients
    // read it as fileForClients() names it: relative to the repository, else as written.
    const written = s.file;
    const shown = isAbsolute(written) ? written : relative(process.cwd(), file) || file;
    try {
      const { mean, scale } = readScalerFile(file, shown);
      const wrong = [mean.length !== tensor.fields.length && `${mean.length} mean values`, scale.length !== tensor.fields.length && `${scale.length} scale values`].filter(Boolean);
      if (wrong.length > 0) throw new ScalerFileError((f) => `${f} has ${wrong.join(' and ')} but the input has ${tensor.fields.length} fields`, shown);
      const wrongValues = scaleValueProblems(mean, scale, tensor.type);
      if (wrongValues.length > 0) throw new ScalerFileError((f) => `${f}: ${wrongValues.join('; ')}`, shown);
      tensor.scale = { mean, scale };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // An errno error (a loop of links, permission denied) says the system call, not the reason.
      const said = (f: string) => e.code === 'ENOENT' ? `scaler file not found: ${f}` : err instanceof UserFileError ? `${f} ${err.reason}` : e.code !== undefined ? `${f} ${unreadableReason(err)}` : undefined;
      const forClients = (f: string) => err instanceof ScalerFileError ? err.forClients(f) : said(f) ?? `${f} could not be read`;
      at(`${path}.file`, said(shown) ?? e.message, (repo) => forClients(fileForClients(file, repo, written)));
      delete tensor.scale;
    }
  }
}
