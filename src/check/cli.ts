// `modelserve check <repo> [--sample data.csv]` (also `modelserve serve --check`).
import { StartupError } from '../errors.js';
import { unknownOptionMessage } from '../closest-name.js';
import { EMPTY_MODEL_REPO } from '../cli/model-repo.js';
import { formatModelProblems, type ModelProblem } from './problems.js';
import { checkRepository, type CheckOptions } from './repository.js';

const HELP = `Usage: modelserve check [MODEL_REPO] [--sample data.csv] [--no-optimize]

Checks every model of MODEL_REPO (default $MODELSERVE_MODEL_REPO or ./models) without opening a
port: each config's schema and cross-field rules, scaler files, the ONNX file loaded in onnxruntime
and its real input/output signature, the fields' examples as a request, one run of the model on
serve's load-time warm-up input (the example row; for a folder with only an .onnx file, one row of
zeros), and what the optimiser cannot rewrite (a warning). Every problem of every model is listed
at once: file, key, problem. Notes say what serve's load decides from a graph: a raw model whose
graph may mix rows is not batched across requests; a model holding an operator whose work depends
on its input's values (Loop, If, Range...) never runs on the main thread.

  --sample FILE    a CSV of real inputs (a header naming the fields): runs it through every model
                   and warns when >= 99% of the answers are the same (a missing or wrong scaler),
                   when a column lies beyond 10 standard deviations of the scaler's mean, and when
                   observed values break a field's declared minimum, maximum or enum
  --no-optimize    do not run the optimiser (as serve --no-optimize)

Exit codes: 0 the repository serves (warnings may be printed), 1 it has errors, 2 usage error.`;

export async function checkAndReport(repo: string, options: CheckOptions): Promise<number> {
  let report;
  try {
    report = await checkRepository(repo, options);
  } catch (err) {
    console.error(`modelserve check: ${err instanceof StartupError ? err.message : (err as Error).message}`);
    return 1;
  }
  const text = formatModelProblems(report.problems);
  if (text) console.error(text);
  const checked = report.models.length + report.unreadable.length;
  const unreadable = report.unreadable.length > 0 ? `config not readable: ${report.unreadable.join(', ')}` : '';
  const names = [report.models.join(', '), unreadable].filter(Boolean).join('; ');
  const count = (severity: ModelProblem['severity']) => report.problems.filter((p) => p.severity === severity).length;
  // Notes (what a load decides, nothing wrong) are counted only when there are some.
  const notes = count('note') > 0 ? `, ${count('note')} note(s)` : '';
  console.log(`${report.ok ? 'ok' : 'failed'}: ${checked} model${checked === 1 ? '' : 's'} checked (${names}), ` +
    `${count('error')} error(s), ${count('warning')} warning(s)${notes}`);
  return report.ok ? 0 : 1;
}

export async function run(argv: string[]): Promise<number> {
  const options: CheckOptions = {};
  const repos: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      console.log(HELP);
      return 0;
    } else if (a === '--sample' || a.startsWith('--sample=')) {
      const file = a === '--sample' ? argv[++i] : a.slice('--sample='.length);
      // An empty one would check without a sample, and a second would silently replace the first.
      if (!file) return usage('--sample needs a CSV file');
      if (options.sample !== undefined) return usage(`--sample given twice (${options.sample}, ${file}): check takes one sample`);
      options.sample = file;
    } else if (a === '--no-optimize') options.optimize = false;
    else if (a.startsWith('-')) return usage(unknownOptionMessage(a, ['--sample', '--no-optimize', '--help']));
    else repos.push(a);
  }
  if (repos.length > 1) return usage('expected one MODEL_REPO');
  if (repos[0] === '') return usage(EMPTY_MODEL_REPO);
  // Empty is unset, as serve reads it.
  return checkAndReport(repos[0] ?? (process.env.MODELSERVE_MODEL_REPO?.trim() || 'models'), options);
}

function usage(message: string): number {
  console.error(`modelserve check: ${message}\n\n${HELP}`);
  return 2;
}
