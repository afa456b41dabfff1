// `scale: {file: scaler.json}`: a StandardScaler's mean and scale read from a JSON file (relative
// to the model folder) instead of copied into the config. Runs before the cross-field checks, which
// then see plain mean/scale arrays; a problem names the file and leaves the input unscaled.
import { relative, resolve } from 'node:path';
import { readUserText, stripBom } from '../user-file.js';

interface LooseScale { mean?: number[]; scale?: number[]; file?: string }

function numbers(value: unknown): number[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v)) ? value as number[] : undefined;
}

/** Reads `{"mean": [...], "scale": [...]}` (scikit-learn's `mean_`/`scale_` spelling also works). */
export function readScalerFile(file: string): { mean: number[]; scale: number[] } {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(stripBom(readUserText(file, 'scaler'))) as Record<string, unknown>;
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    // JSON.parse's message names no file and quotes the text it stopped at (binary bytes, line breaks).
    throw new Error(`${file} is not valid JSON: ${err.message.replace(/[^\x20-\x7e]+/g, '?')}`, { cause: err });
  }
  const mean = numbers(json.mean ?? json.mean_);
  const scale = numbers(json.scale ?? json.scale_);
  if (!mean || !scale) throw new Error('expected {"mean": [numbers], "scale": [numbers]}');
  return { mean, scale };
}

/** Replaces every `scale.file` under `inputs` by the file's mean and scale, reporting each problem through `at`. */
export function resolveScaleFiles(dir: string, inputs: Record<string, { fields: string[]; scale?: LooseScale }>, at: (path: string, message: string) => void): void {
  for (const [name, tensor] of Object.entries(inputs)) {
    const s = tensor.scale;
    if (!s) continue;
    const path = `inputs.${name}.scale`;
    if (s.file === undefined) {
      if (!s.mean || !s.scale) {
        at(path, 'give file (a scaler JSON file) or both mean and scale');
        delete tensor.scale;
      }
      continue;
    }
    if (s.mean || s.scale) {
      at(path, 'give either file or mean and scale, not both');
      delete tensor.scale;
      continue;
    }
    const file = resolve(dir, s.file);
    try {
      const { mean, scale } = readScalerFile(file);
      const shown = relative(process.cwd(), file) || file;
      const wrong = [mean.length !== tensor.fields.length && `${mean.length} mean values`, scale.length !== tensor.fields.length && `${scale.length} scale values`].filter(Boolean);
      if (wrong.length > 0) throw new Error(`${shown} has ${wrong.join(' and ')} but the input has ${tensor.fields.length} fields`);
      const zero = scale.indexOf(0);
      if (zero >= 0) throw new Error(`${shown}: scale[${zero}] is 0`);
      tensor.scale = { mean, scale };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      at(`${path}.file`, e.code === 'ENOENT' ? `scaler file not found: ${file}` : e.message);
      delete tensor.scale;
    }
  }
}
