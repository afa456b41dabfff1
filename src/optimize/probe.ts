// A dependency-free pre-check for the optimisation pass: importing onnx-proto/protobufjs costs
// ~20–45 ms of cold start, so callers can skip loading src/optimize/index.js for models that
// cannot contain an operator the pass rewrites. False positives only cost the import.
const NEEDLES = ['SVMClassifier', 'SVMRegressor', 'Scaler'].map((s) => Buffer.from(s, 'latin1'));
const ML_DOMAIN = Buffer.from('ai.onnx.ml', 'latin1');

/** true when `bytes` may hold an ai.onnx.ml SVMClassifier, SVMRegressor or Scaler node. */
export function mayOptimize(bytes: Uint8Array): boolean {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buf.includes(ML_DOMAIN) && NEEDLES.some((n) => buf.includes(n));
}
