// `modelserve init <model.onnx> [-o models/<name>] [hints]`: a model folder that serves at once.
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { formatModelProblems } from '../check/problems.js';
import { checkRepository } from '../check/repository.js';
import { InitError, initModelFolder, type InitOptions } from './init.js';
import { isXgboostModelFile, xgboostInitOptions } from '../xgboost/load.js';
import { unreadableReason } from '../user-file.js';
import { parseArgsMessage } from '../closest-name.js';
import { emptyArgumentMessage } from '../cli/empty-argument.js';

const HELP = `Usage: modelserve init <model.onnx | model.json> [-o models/<name>] [hints]

Writes a model folder — the model, a commented model.yaml that serves at once, the scaler file if
given — from the model's own inputs and outputs, then checks it (as modelserve check does).
Without hints the fields are named after the inputs (x0, x1, … for one [N, k] input) and every
output is answered as it is. An XGBoost JSON model (model.json) is served with format: xgboost.

  -o, --out DIR          the model folder (default models/<name>)
  --name NAME            the model's name (default: the folder's or the file's name)
  --sample FILE          a CSV of real inputs: field names from its header, types, the first row
                         as examples, observed ranges as commented minimum/maximum suggestions; the
                         first k numeric columns, in order, feed a single [N, k] input
                         (in a ;-separated CSV, decimal commas such as 1,5 are numbers too)
  --fields a,b,c         the field names, in the input's column order (picks the sample's columns;
                         a model with one input)
  --scaler FILE          a scaler JSON ({"mean": [...], "scale": [...]}), copied beside the model
  --labels 0=No,1=Yes    a "prediction" field: the class-label output mapped to these names
  --proba-field NAME[:COLUMN]
                         a field with one column of the probability output (column 1 by default
                         for two classes)
  --force                overwrite an existing model.yaml

Exit codes: 0 written and it serves, 1 not written or the check found errors, 2 usage error.`;

const INIT_OPTIONS = {
  out: { type: 'string', short: 'o' }, name: { type: 'string' }, sample: { type: 'string' }, fields: { type: 'string' }, scaler: { type: 'string' },
  labels: { type: 'string' }, 'proba-field': { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: INIT_OPTIONS });
  } catch (err) {
    return usage(parseArgsMessage(err, INIT_OPTIONS));
  }
  const v = parsed.values;
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (parsed.positionals.length !== 1) return usage('expected one model file');
  const empty = emptyArgumentMessage({
    '<model.onnx>': parsed.positionals[0], '--out': v.out, '--name': v.name, '--sample': v.sample, '--fields': v.fields, '--scaler': v.scaler, '--labels': v.labels, '--proba-field': v['proba-field'],
  });
  if (empty) return usage(empty);
  const options: InitOptions = { model: parsed.positionals[0]!, out: v.out, name: v.name, sample: v.sample, scaler: v.scaler, probaField: v['proba-field'], force: v.force };
  if (v.fields !== undefined) options.fields = v.fields.split(',').map((s) => s.trim()).filter(Boolean);
  if (v.labels !== undefined) {
    const pairs = v.labels.split(',').map((p) => p.split('='));
    if (pairs.some((p) => p.length !== 2 || !p[0]!.trim() || !p[1]!.trim())) return usage(`--labels: expected VALUE=LABEL pairs, e.g. 0=No_Rain,1=Rain (got ${v.labels})`);
    const values = pairs.map((p) => p[0]!.trim());
    const twice = values.find((value, i) => values.indexOf(value) !== i);
    if (twice !== undefined) return usage(`--labels: the value ${twice} is given two labels (got ${v.labels})`);
    options.labels = Object.fromEntries(pairs.map(([k, l]) => [k!.trim(), l!.trim()]));
  }
  let result;
  try {
    if (isXgboostModelFile(options.model)) Object.assign(options, xgboostInitOptions(options.model));
    result = initModelFolder(options);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    console.error(`modelserve init: ${err instanceof InitError || !e.code ? e.message : `${e.path ?? options.model} ${unreadableReason(e)}`}`);
    return 1;
  }
  const shown = relative(process.cwd(), result.configFile);
  console.error(`wrote ${shown}`);
  for (const note of result.notes) console.error(`note: ${note}`);
  const report = await checkRepository(result.dir, { sample: options.sample });
  const text = formatModelProblems(report.problems);
  if (text) console.error(text);
  // A width init guessed is the likely cause of a failing check (the warm-up run's shape error never says so).
  const cause = result.guesses.length > 0 ? `; likely cause: ${result.guesses.join('; and ')}` : '';
  console.log(report.ok ? `ok: serve it with \`modelserve serve ${relative(process.cwd(), result.dir) || '.'}\`` : `${shown} needs the fixes above before it serves${cause}`);
  return report.ok ? 0 : 1;
}

function usage(message: string): number {
  console.error(`modelserve init: ${message}\n\n${HELP}`);
  return 2;
}
