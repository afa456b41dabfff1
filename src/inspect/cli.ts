// `modelserve inspect <model.onnx> [--json]`: what a model takes and returns, before writing a config.
import { describeModel, formatDescription } from './inspect.js';
import { convertXgboostFile, isXgboostModelFile } from '../xgboost/load.js';
import { notOnnxReason } from '../core/model-bytes.js';
import { readUserFile, UserFileError, unreadableReason } from '../user-file.js';
import { unknownOptionMessage } from '../closest-name.js';
import { emptyArgumentMessage } from '../cli/empty-argument.js';

const HELP = `Usage: modelserve inspect <model.onnx | model.json> [--json]

Prints the model's inputs and outputs (names, element types, shapes with symbolic dimensions or
'(shape not declared)', maps and sequences with what they hold),
its opset imports, the operators it uses and which of them the load-time optimiser rewrites,
its metadata_props and the file's size. --json prints the same as one JSON object (with, for a
classifier's label output, its classes). An XGBoost JSON
model (model.json) is shown as the ONNX graph modelserve converts it to.

Exit codes: 0 printed, 1 the file cannot be read or is not an ONNX model, 2 usage error.`;

/** inspect takes no config: it reads a model as XGBoost by its .json name. */
const XGBOOST_FIX = 'rename it to end in .json (model.json): inspect reads a .json file as an XGBoost model';

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(HELP);
    return 0;
  }
  const json = argv.includes('--json');
  const files = argv.filter((a) => a !== '--json');
  const unknown = files.find((a) => a.startsWith('-'));
  if (unknown || files.length !== 1) {
    console.error(`modelserve inspect: ${unknown ? unknownOptionMessage(unknown, ['--json', '--help']) : 'expected one <model.onnx>'}\n\n${HELP}`);
    return 2;
  }
  const file = files[0]!;
  const empty = emptyArgumentMessage({ '<model.onnx>': file });
  if (empty) {
    console.error(`modelserve inspect: ${empty}\n\n${HELP}`);
    return 2;
  }
  let description;
  let bytes: Uint8Array | undefined;
  try {
    // An XGBoost JSON model is shown as the ONNX graph it is served as.
    bytes = isXgboostModelFile(file) ? convertXgboostFile(file).bytes : readUserFile(file, 'model');
    description = describeModel(bytes, file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    console.error(`modelserve inspect: ${err instanceof UserFileError || e.code ? `${file} ${unreadableReason(err)}` : isXgboostModelFile(file) ? e.message : `${file} is not a valid ONNX model: ${(bytes && notOnnxReason(bytes, XGBOOST_FIX)) ?? e.message}`}`);
    return 1;
  }
  console.log(json ? JSON.stringify(description, null, 2) : formatDescription(description));
  return 0;
}
