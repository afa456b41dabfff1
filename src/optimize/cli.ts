// `modelserve optimize <in.onnx> <out.onnx> [--report]`: writes the optimised (dense-tensor) form
// of a model so users can inspect it (e.g. in Netron) or serve it with `optimize: false`.
import { readUserFile, unreadableReason } from '../user-file.js';
import { optimizeModel, type OptimizeOptions, type RbfPrecision } from './index.js';
import { isSameFile, writeOutput } from '../cli/output.js';
import { unknownOptionMessage } from '../closest-name.js';
import { emptyArgumentMessage } from '../cli/empty-argument.js';
import { notOnnxReason } from '../core/model-bytes.js';
import { isXgboostJson } from '../config/load.js';

const HELP = `Usage: modelserve optimize <in.onnx> <out.onnx> [options]

Rewrites ai.onnx.ml SVMClassifier, SVMRegressor and Scaler nodes into standard ONNX
operators (MatMul/Gemm, Exp, …) that onnxruntime runs with vectorised kernels, keeping
every output's name, type and shape. Other operators are copied unchanged.

Options:
  --report                 print what was rewritten and what was skipped (and why) as JSON
  --rbf <precision>        RBF kernel precision: float32 (default) | mixed | float64
  --probabilities <how>    Platt probabilities: operator (default, exact, any class count)
                           | ops (standard operators only; binary only)
  --force                  write <out.onnx> even when nothing was rewritten
  -h, --help               show this help

Exit codes: 0 written, 1 error, 2 usage error, 3 nothing to rewrite (nothing written unless --force).`;

const OPTIONS = ['--report', '--rbf', '--probabilities', '--force', '--help'];

export async function run(argv: string[]): Promise<number> {
  const files: string[] = [];
  const options: OptimizeOptions = {};
  let report = false;
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    // '--rbf=mixed' as well as '--rbf mixed', as check and serve take their options.
    const equals = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const a = equals < 0 ? arg : arg.slice(0, equals);
    const inline = equals < 0 ? undefined : arg.slice(equals + 1);
    if (inline !== undefined && (a === '--report' || a === '--force' || a === '--help')) return usageError(`${a} takes no value (got ${arg})`);
    if (a === '-h' || a === '--help') {
      console.log(HELP);
      return 0;
    } else if (a === '--report') report = true;
    else if (a === '--force') force = true;
    else if (a === '--rbf' || a === '--probabilities') {
      const v = inline ?? argv[++i];
      if (a === '--rbf') {
        if (v !== 'mixed' && v !== 'float32' && v !== 'float64') return usageError(`--rbf must be mixed, float32 or float64 (got ${v || 'nothing'})`);
        options.rbf = v as RbfPrecision;
      } else {
        if (v !== 'operator' && v !== 'ops') return usageError(`--probabilities must be operator or ops (got ${v || 'nothing'})`);
        options.probabilities = v;
      }
    } else if (a.startsWith('-')) return usageError(unknownOptionMessage(a, OPTIONS));
    else files.push(a);
  }
  if (files.length !== 2) return usageError('expected <in.onnx> and <out.onnx>');
  const [input, output] = files as [string, string];
  const empty = emptyArgumentMessage({ '<in.onnx>': input, '<out.onnx>': output });
  if (empty) return usageError(empty);
  if (isSameFile(input, output)) return usageError(`${output} is the input file ${input}: writing it would overwrite the model; give another <out.onnx>`);
  let bytes: Uint8Array;
  try {
    bytes = readUserFile(input, 'model');
  } catch (err) {
    console.error(`modelserve optimize: ${input} ${unreadableReason(err)}`);
    return 1;
  }
  let result;
  const t0 = performance.now();
  try {
    result = optimizeModel(bytes, options);
  } catch (err) {
    // An XGBoost JSON model has no ONNX graph yet; its tree ensemble would be kept as it is anyway.
    const xgboost = isXgboostJson(input) ? `it is an XGBoost JSON model: modelserve convert writes its ONNX graph` : undefined;
    console.error(`modelserve optimize: ${input} is not a valid ONNX model: ${xgboost ?? notOnnxReason(bytes) ?? (err as Error).message}`);
    return 1;
  }
  const ms = performance.now() - t0;
  if (report) {
    console.log(JSON.stringify({ input, output, changed: result.changed, ms: Math.round(ms * 10) / 10, bytesIn: bytes.length, bytesOut: result.bytes.length, rewrites: result.rewrites, skipped: result.skipped }, null, 2));
  } else {
    for (const r of result.rewrites) console.error(`rewrote ${r.op} '${r.node}': ${r.detail}`);
    for (const s of result.skipped) console.error(`kept    ${s.op} '${s.node}': ${s.reason}`);
  }
  if (!result.changed && !force) {
    console.error(`modelserve optimize: nothing to rewrite in ${input}; ${output} not written (use --force to copy it)`);
    return 3;
  }
  if (!writeOutput('optimize', output, result.bytes)) return 1;
  if (!report) console.error(`wrote ${output} (${result.bytes.length} bytes, ${ms.toFixed(1)} ms)`);
  return 0;
}

function usageError(msg: string): number {
  console.error(`modelserve optimize: ${msg}\n\n${HELP}`);
  return 2;
}
