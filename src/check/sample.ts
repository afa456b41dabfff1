// `check --sample data.csv`: runs a sample of real data through a model and warns about the
// mistakes that do not fail any request: every answer the same (a missing scaler, or the book's
// fit_transform-per-request bug), input columns far outside the scaler's range (a different unit,
// a wrong column order), and observed values that the declared minimum/maximum/enum would reject.
import type { ModelConfig } from '../config/types.js';
import { compileDecoder, neededOutputs } from '../response/decode.js';
import { runSession, type OrtSession } from '../runtime/session.js';
import type { ModelSignature } from '../runtime/types.js';
import { compileEncoder } from '../tensors/encode.js';
import { compileRequestValidator, type Row } from '../validation/request-validator.js';
import { isNumberCell, normalizeName, type Sample, type SampleColumn } from './csv.js';
import type { ModelProblem } from './problems.js';

/** Share of identical answers from which a model is suspected of ignoring its input. */
export const SAME_ANSWER_SHARE = 0.99;
/** Standard deviations from the scaler's mean beyond which a sample value is reported. */
export const SCALER_SIGMAS = 10;
const BATCH = 1024;

const fmt = (x: number) => String(Number(x.toPrecision(6)));

/** The sample's column for each field (matched by normalised name; of a name the header repeats, the first), or undefined. */
export function matchColumns(config: ModelConfig, sample: Sample): Map<string, SampleColumn | undefined> {
  const byName = new Map<string, SampleColumn>();
  for (const c of sample.columns) if (!byName.has(normalizeName(c.name))) byName.set(normalizeName(c.name), c);
  return new Map(config.fields.map((f) => [f.name, byName.get(normalizeName(f.name))]));
}

export async function checkSample(config: ModelConfig, signature: ModelSignature, session: OrtSession, sample: Sample): Promise<ModelProblem[]> {
  const problems: ModelProblem[] = [];
  const warn = (key: string, message: string) => problems.push({ file: config.configFile, key, message, severity: 'warning' });
  const columns = matchColumns(config, sample);
  const unmatched = config.fields.filter((f) => f.required && !columns.get(f.name)).map((f) => f.name);
  if (unmatched.length > 0) {
    warn('fields', `the sample ${sample.file} has no column for ${unmatched.join(', ')} (its columns: ${sample.columns.map((c) => c.name).join(', ')}); the sample was not run`);
    return problems;
  }

  // Declared bounds against what the data holds.
  for (const f of config.fields) {
    const col = columns.get(f.name);
    if (!col) continue;
    const values = col.values.filter((v) => v !== undefined);
    if ((f.type === 'number' || f.type === 'integer') && !col.numeric) {
      warn(`fields.${f.name}.type`, `is ${f.type} but the sample's column ${col.name} holds text (e.g. '${values.find((v) => !isNumberCell(String(v)))}')`);
      continue;
    }
    const nums = values as number[];
    if (f.minimum !== undefined) {
      const below = nums.filter((v) => v < f.minimum!);
      if (below.length > 0) warn(`fields.${f.name}.minimum`, `is ${f.minimum} but ${below.length} of ${sample.rows} sample values are below it (smallest ${fmt(Math.min(...below))}); those requests would get 422`);
    }
    if (f.maximum !== undefined) {
      const above = nums.filter((v) => v > f.maximum!);
      if (above.length > 0) warn(`fields.${f.name}.maximum`, `is ${f.maximum} but ${above.length} of ${sample.rows} sample values are above it (largest ${fmt(Math.max(...above))}); those requests would get 422`);
    }
    if (f.enum) {
      const allowed = new Set(f.enum.map(String));
      const outside = values.filter((v) => !allowed.has(String(v)));
      if (outside.length > 0) warn(`fields.${f.name}.enum`, `${outside.length} of ${sample.rows} sample values are not in it (e.g. ${[...new Set(outside.map(String))].slice(0, 5).join(', ')}); those requests would get 422`);
    }
  }

  // The scaler's range: a column many standard deviations from its mean is on another scale.
  for (const t of config.tensors) {
    if (!t.scale) continue;
    t.fields.forEach((name, i) => {
      const col = columns.get(name);
      if (!col?.numeric) return;
      const mean = t.scale!.mean[i]!;
      const scale = t.scale!.scale[i]!;
      let far = 0;
      let worst = 0;
      let worstValue = 0;
      for (const v of col.values as Array<number | undefined>) {
        if (v === undefined) continue;
        const z = Math.abs((v - mean) / scale);
        if (z > SCALER_SIGMAS) far++;
        if (z > worst) { worst = z; worstValue = v; }
      }
      if (far > 0) {
        warn(`inputs.${t.name}.scale`, `column ${i} (${name}): ${far} of ${sample.rows} sample values lie beyond ${SCALER_SIGMAS} standard deviations of the scaler's mean ${fmt(mean)} (scale ${fmt(scale)}; e.g. ${fmt(worstValue)} is ${fmt(worst)} away) — a wrong column order, unit or scaler?`);
      }
    });
  }

  // Run every row the service would accept, and look at how varied the answers are.
  const validate = compileRequestValidator(config, signature);
  const rows: Row[] = [];
  for (let r = 0; r < sample.rows; r++) {
    const row: Row = {};
    for (const f of config.fields) {
      const v = columns.get(f.name)?.values[r];
      if (v !== undefined) row[f.name] = v;
    }
    const result = validate(row);
    if (result.ok) rows.push(result.rows[0]!);
  }
  if (rows.length === 0) {
    warn('fields', `none of the ${sample.rows} sample rows is a valid request; the sample was not run`);
    return problems;
  }
  const encode = compileEncoder(config, signature);
  const decode = compileDecoder(config);
  const outputs = neededOutputs(config);
  const counts = new Map(config.outputs.map((o) => [o.field, new Map<string, number>()]));
  for (let start = 0; start < rows.length; start += BATCH) {
    const batch = rows.slice(start, start + BATCH);
    const answers = decode(await runSession(config.name, session, encode(batch), outputs), batch.length);
    for (const answer of answers) {
      for (const [field, seen] of counts) {
        const key = JSON.stringify(answer[field]);
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
    }
  }
  for (const [field, seen] of counts) {
    const [value, n] = [...seen.entries()].reduce((a, b) => (b[1] > a[1] ? b : a));
    if (rows.length > 1 && n / rows.length >= SAME_ANSWER_SHARE) {
      const scaled = config.tensors.some((t) => t.scale);
      warn(`outputs.${field}`, `${n} of ${rows.length} sample rows (${fmt((100 * n) / rows.length)}%) get the same answer ${value}: a model that ignores its input${scaled ? ' (is the scaler the one the model was trained with?)' : ' (was the model trained on scaled data? then add scale: to the input)'}`);
    }
  }
  if (rows.length < sample.rows) warn('fields', `${sample.rows - rows.length} of ${sample.rows} sample rows are not valid requests (missing values or outside the declared bounds); the other ${rows.length} were run`);
  return problems;
}
