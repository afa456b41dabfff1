// Model repositories for the core's tests: the book's svc.onnx in numbered version folders, each
// version with its own label names so that answers tell which version served them.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOOK_MODEL, bookModelYaml } from '../helpers/paths.js';

export const BOOK_ROW = { temp_c: 8.75, humidity: 0.83, wind_speed_kmph: 70, wind_bearing_degree: 259, visibility_km: 15.82, pressure_millibars: 1016.51, current_weather_condition: 1 };

/** The labels version `v` answers with: Rain-v / Dry-v. */
export const labelsOf = (v: number): { rain: string; dry: string } => ({ rain: `Rain-${v}`, dry: `Dry-${v}` });

export function bookConfig(name: string, v: number, extra = ''): string {
  return bookModelYaml({ name, model: 'model.onnx', ...labelsOf(v), extra });
}

/** Writes <repo>/<name>/<v>/{model.yaml, model.onnx} (the ONNX copied from ../shared); returns the version folder. */
export function writeBookVersion(repo: string, name: string, v: number, extra = ''): string {
  const dir = join(repo, name, String(v));
  mkdirSync(dir, { recursive: true });
  copyFileSync(BOOK_MODEL, join(dir, 'model.onnx'));
  writeFileSync(join(dir, 'model.yaml'), bookConfig(name, v, extra));
  return dir;
}
