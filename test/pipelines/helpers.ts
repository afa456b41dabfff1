// Temporary model repositories for pipeline and traffic tests: the example models' configs with
// their ONNX files read in place, plus whatever pipeline configs a test writes.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, tempDir } from '../helpers/paths.js';

/** Writes <repo>/<folder>/model.yaml: an example's config (weather or loan) reading the example's model.onnx. */
export function exampleModel(repo: string, example: 'weather' | 'loan', folder: string = example, extra = ''): string {
  const dir = join(repo, folder);
  mkdirSync(dir, { recursive: true });
  const yaml = readFileSync(join(EXAMPLES, example, 'model.yaml'), 'utf8')
    .replace(/^model: model\.onnx$/m, `model: ${join(EXAMPLES, example, 'model.onnx')}`)
    .replace(/^name: .*$/m, `name: ${folder}`)
    .replace(/^default: true$/m, '');
  writeFileSync(join(dir, 'model.yaml'), `${yaml}\n${extra}`);
  return dir;
}

/** Writes <repo>/<folder>/model.yaml with the given text. */
export function writeConfig(repo: string, folder: string, text: string): string {
  const dir = join(repo, folder);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.yaml'), text);
  return dir;
}

export function newRepo(): string {
  return tempDir('modelserve-pipelines-');
}

export const WEATHER_ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

/** The weather fields as a remote step declares them (no ranges: the remote service checks its own). */
export const WEATHER_REMOTE_FIELDS = Object.keys(WEATHER_ROW).map((f) => `          ${f}: { type: number }`).join('\n');
