// Parity check of an example model with onnxruntime-node (plain JS, no build step, no Python).
//
//   node examples/parity.mjs <model-folder> [testset.json]
//
// Loads <model-folder>/model.yaml and the ONNX file it names (an XGBoost JSON model, `format: xgboost`,
// as modelserve converts it), turns every row of the test set
// (request objects, exactly as clients send them) into the ONNX inputs the config's `inputs`
// section describes, runs the model and compares its `probabilities` and `label` outputs with the
// scikit-learn values recorded in the test set. Prints one JSON object:
//   { rows, max_abs_diff, label_agreement, label_mismatches, tolerance, ok }
// and exits 0 when max_abs_diff <= 1e-5 and every label agrees, else 1.
// examples/<name>/train.py runs it on the held-out set and stores the result as parity.json.
//
// Test set format: { "rows": [ {field: value, ...}, ... ],
//                    "expected": { "probabilities": [[p0, p1], ...], "label": [0|1, ...] } }
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import ort from 'onnxruntime-node';

export const TOLERANCE = 1e-5;

/** Builds the ONNX feeds for `rows` from the config's `inputs` section and the session's metadata. */
export function buildFeeds(config, session, rows) {
  const n = rows.length;
  const feeds = {};
  for (const [name, spec] of Object.entries(config.inputs)) {
    const meta = session.inputMetadata.find((m) => m.name === name);
    if (!meta) throw new Error(`config input ${name} is not an input of the model`);
    const type = spec.type ?? meta.type;
    const k = spec.fields.length;
    const dims = meta.shape.length === 1 ? [n] : [n, k];
    const values = [];
    for (const row of rows) {
      spec.fields.forEach((field, j) => {
        let v = row[field];
        if (spec.scale) v = (v - spec.scale.mean[j]) / spec.scale.scale[j];
        values.push(v);
      });
    }
    let data;
    if (type === 'string') data = values.map(String);
    else if (type === 'int64') data = BigInt64Array.from(values, (v) => BigInt(v));
    else if (type === 'int32') data = Int32Array.from(values);
    else if (type === 'float64') data = Float64Array.from(values);
    else if (type === 'float32') data = Float32Array.from(values);
    else if (type === 'bool') data = Uint8Array.from(values, (v) => (v ? 1 : 0));
    else throw new Error(`unsupported input type ${type} for ${name}`);
    feeds[name] = new ort.Tensor(type, data, dims);
  }
  return feeds;
}

/**
 * What onnxruntime loads: the ONNX file, or for `format: xgboost` (rain-xgboost) the graph modelserve
 * converts the XGBoost JSON model into, with its own converter (built by `npm run build`).
 */
async function modelBytes(file, format) {
  if (format !== 'xgboost') return file;
  const converter = new URL('../dist/src/xgboost/load.js', import.meta.url);
  if (!existsSync(converter)) throw new Error(`${file} is an XGBoost model: run \`npm run build\` first (its ONNX graph comes from modelserve's converter)`);
  const { convertXgboostFile } = await import(converter.href);
  return convertXgboostFile(file).bytes;
}

/** Runs the test set through the model; returns the comparison summary. */
export async function checkParity(modelDir, testsetPath) {
  const config = parse(readFileSync(join(modelDir, 'model.yaml'), 'utf8'));
  const testset = JSON.parse(readFileSync(testsetPath, 'utf8'));
  const session = await ort.InferenceSession.create(await modelBytes(join(modelDir, config.model ?? 'model.onnx'), config.format));
  try {
    const { rows, expected } = testset;
    const out = await session.run(buildFeeds(config, session, rows));
    const probs = out.probabilities.data;
    const labels = out.label.data;
    const width = out.probabilities.dims[1];
    let maxDiff = 0;
    let mismatches = 0;
    for (let i = 0; i < rows.length; i++) {
      for (let c = 0; c < width; c++) {
        const d = Math.abs(probs[i * width + c] - expected.probabilities[i][c]);
        if (!(d <= maxDiff)) maxDiff = d; // NaN propagates as a failure
      }
      if (Number(labels[i]) !== expected.label[i]) mismatches++;
    }
    return {
      rows: rows.length,
      max_abs_diff: maxDiff,
      label_agreement: (rows.length - mismatches) / rows.length,
      label_mismatches: mismatches,
      tolerance: TOLERANCE,
      ok: maxDiff <= TOLERANCE && mismatches === 0,
    };
  } finally {
    await session.release();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const [modelDir, testset] = process.argv.slice(2);
  if (!modelDir) {
    console.error('usage: node examples/parity.mjs <model-folder> [testset.json]');
    process.exit(2);
  }
  const result = await checkParity(modelDir, testset ?? join(modelDir, 'testset.json'));
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}
