// `modelserve convert <model.json> <out.onnx>`: writes the ONNX graph an XGBoost model is served as.
import { convertXgboostFile } from './load.js';
import { isSameFile, writeOutput } from '../cli/output.js';
import { unreadableReason } from '../user-file.js';
import { unknownOptionMessage } from '../closest-name.js';
import { emptyArgumentMessage } from '../cli/empty-argument.js';

const HELP = `Usage: modelserve convert <model.json> <out.onnx>

Converts an XGBoost model saved in XGBoost's JSON format (booster.save_model('model.json'), gbtree,
dart or gblinear; objectives binary:logistic, binary:logitraw, binary:hinge, reg:squarederror,
reg:pseudohubererror, reg:absoluteerror, reg:squaredlogerror, reg:logistic, count:poisson,
reg:gamma, reg:tweedie, survival:cox, survival:aft, rank:pairwise, rank:ndcg, rank:map,
multi:softprob, multi:softmax) into the ONNX graph modelserve serves for it (format: xgboost does
the same at load): an ai.onnx.ml TreeEnsembleRegressor for the margin, with base_score, and each
split's default direction for missing values (NaN) (gblinear: MatMul and Add, a missing value adding
nothing), then Sigmoid or Softmax and the label for classifiers (the margin's sign for
binary:hinge), Exp for count:poisson, reg:gamma, reg:tweedie and survival:*.
Input 'input' float32 [N, features]; outputs 'label' int64 [N] and 'probabilities' float32 [N, C]
for classifiers, 'variable' float32 [N, 1] for regression ('margin' for binary:logitraw).

Exit codes: 0 written, 1 the model cannot be read or converted, or <out.onnx> cannot be written,
2 usage error.`;

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(HELP);
    return 0;
  }
  const unknown = argv.find((a) => a.startsWith('-'));
  if (unknown || argv.length !== 2) {
    console.error(`modelserve convert: ${unknown ? unknownOptionMessage(unknown, ['--help']) : 'expected <model.json> and <out.onnx>'}\n\n${HELP}`);
    return 2;
  }
  const [input, output] = argv as [string, string];
  const empty = emptyArgumentMessage({ '<model.json>': input, '<out.onnx>': output });
  if (empty) {
    console.error(`modelserve convert: ${empty}\n\n${HELP}`);
    return 2;
  }
  if (isSameFile(input, output)) {
    console.error(`modelserve convert: ${output} is the input file ${input}: writing it would overwrite the model; give another <out.onnx>\n\n${HELP}`);
    return 2;
  }
  let converted;
  try {
    converted = convertXgboostFile(input);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    console.error(`modelserve convert: ${e.code ? `${input} ${unreadableReason(e)}` : e.message}`);
    return 1;
  }
  if (!writeOutput('convert', output, converted.bytes)) return 1;
  console.error(`wrote ${output}: ${converted.objective}, ${converted.numFeature} features${converted.numClass > 1 ? `, ${converted.numClass} classes` : ''}${converted.rounds ? `, the first ${converted.rounds.used} of ${converted.rounds.total} rounds (early stopping's best_iteration)` : ''} (${converted.bytes.length} bytes); outputs ${converted.outputs.join(', ')}`);
  return 0;
}
