// Where tests find the repository and ../shared (the real artifacts the project may read but not copy).
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repo root (tests run from dist/test/..., so walk up to package.json). */
export const REPO = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();

/** ../shared beside the repo; MODELSERVE_SHARED overrides (e.g. a clone elsewhere). */
export const SHARED = (() => {
  const candidates = [process.env.MODELSERVE_SHARED, resolve(REPO, '../shared'), '/work/shared'].filter((p): p is string => !!p);
  return candidates.find((p) => existsSync(join(p, 'seed', 'svc.onnx'))) ?? candidates[0]!;
})();

export const BOOK_MODEL = join(SHARED, 'seed', 'svc.onnx');
export const BOOK_SCALER = join(SHARED, 'seed', 'model-scaler.json');
export const BOOK_CSV = join(SHARED, 'seed', 'sample_inference_data.csv');
export const EXAMPLES = join(REPO, 'examples');
export const CLI = join(REPO, 'bin', 'modelserve.js');

/** The book's field names, in the column order svc.onnx expects. */
export const BOOK_FIELDS = ['temp_c', 'humidity', 'wind_speed_kmph', 'wind_bearing_degree', 'visibility_km', 'pressure_millibars', 'current_weather_condition'] as const;
const CSV_COLUMNS = ['Temperature_C', 'Humidity', 'Wind_speed_kmph', 'Wind_bearing_degrees', 'Visibility_km', 'Pressure_millibars', 'Current_weather_condition'];

const madeDirs: string[] = [];

/**
 * A new folder under the OS temp dir, removed with everything in it when this process exits (each
 * test file runs in a process of its own), so that a suite run leaves nothing behind.
 */
export function tempDir(prefix = 'modelserve-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (madeDirs.push(dir) === 1) {
    process.once('exit', () => {
      for (const d of madeDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

/**
 * The book's model.yaml: svc.onnx with its StandardScaler as the book's API. `header` holds lines
 * between name and model (version, description); `extra` is appended.
 */
export function bookModelYaml(o: { name: string; model: string; rain?: string; dry?: string; header?: string; extra?: string; shared?: string }): string {
  const scaler = JSON.parse(readFileSync(join(o.shared ?? SHARED, 'seed', 'model-scaler.json'), 'utf8')) as { mean: number[]; scale: number[] };
  const fields = BOOK_FIELDS.map((f) => `  ${f}: { type: number, example: 1 }`).join('\n');
  return `name: ${o.name}
${o.header ?? ''}model: ${o.model}
fields:
${fields}
inputs:
  float_input:
    fields: [${BOOK_FIELDS.join(', ')}]
    scale:
      mean: [${scaler.mean.join(', ')}]
      scale: [${scaler.scale.join(', ')}]
outputs:
  prediction:
    from: label
    map: { "1": ${o.rain ?? 'Rain'}, "0": ${o.dry ?? 'No_Rain'} }
${o.extra ?? ''}`;
}

/**
 * Writes a model folder serving the book's svc.onnx (read in place from `shared`) with its scaler as
 * the book's API; returns the folder. Also used by the benchmarks.
 */
export function writeBookModelFolder(parent = tempDir(), extra = '', shared = SHARED): string {
  const dir = join(parent, 'book-weather');
  mkdirSync(dir, { recursive: true });
  const header = `version: "1.0"\ndescription: The book's weather classifier (svc.onnx) with its StandardScaler.\n`;
  writeFileSync(join(dir, 'model.yaml'), bookModelYaml({ name: 'book-weather', header, model: join(shared, 'seed', 'svc.onnx'), extra, shared }));
  return dir;
}

/** The CSV's rows as book requests. */
export function bookRows(limit = Infinity): Array<Record<string, number>> {
  const lines = readFileSync(BOOK_CSV, 'utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const idx = CSV_COLUMNS.map((c) => header.indexOf(c));
  const rows: Array<Record<string, number>> = [];
  for (const line of lines.slice(1)) {
    if (rows.length >= limit) break;
    // The Location column is quoted and contains a comma; the numeric columns come after it.
    const cells = line.replace(/"[^"]*"/g, 'LOC').split(',');
    const row: Record<string, number> = {};
    BOOK_FIELDS.forEach((f, i) => { row[f] = Number(cells[idx[i]!]); });
    rows.push(row);
  }
  return rows;
}
