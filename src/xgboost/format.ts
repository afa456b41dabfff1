// What a model file holds when it is not one modelserve reads as it is, told from its first bytes:
// shared by the XGBoost converter and the ONNX paths (serve, check, init, inspect), without loading either.

export interface ForeignModel {
  /** What the file is: "XGBoost's legacy binary format". */
  what: string;
  /** How to get a file modelserve reads. */
  fix: string;
  xgboost: boolean;
}

/** An XGBoost model in a binary format, or a Python pickle; undefined for other files. */
export function foreignModelFormat(bytes: Uint8Array): ForeignModel | undefined {
  const xgboost = (what: string): ForeignModel => ({ what, fix: "save it with model.save_model('model.json')", xgboost: true });
  // XGBoost 1.x's legacy binary format (save_model to a name not ending .json or .ubj) starts with "binf".
  if (bytes.length >= 4 && Buffer.from(bytes.buffer, bytes.byteOffset, 4).toString('latin1') === 'binf') return xgboost("XGBoost's legacy binary format");
  // UBJSON (XGBoost 2's default, model.ubj) opens an object with '{' and a binary length marker.
  if (bytes[0] === 0x7b && bytes.length > 1 && 'LUiIl$#'.includes(String.fromCharCode(bytes[1]!))) return xgboost("XGBoost's binary UBJSON format");
  // pickle.dump / joblib.dump (protocol 2 and later): an opcode 0x80 and the protocol number.
  if (bytes[0] === 0x80 && bytes.length > 1 && bytes[1]! >= 2 && bytes[1]! <= 5) {
    return { what: 'a Python pickle', fix: "a pickle holds Python objects, not a model file: save an XGBoost model with model.save_model('model.json'); export a scikit-learn model to ONNX (skl2onnx)", xgboost: false };
  }
  return undefined;
}

/** The reason an ONNX path gives for such a file: what it is and how to serve it. */
export function foreignModelReason(bytes: Uint8Array): string | undefined {
  const foreign = foreignModelFormat(bytes);
  return foreign && `it is ${foreign.what}: ${foreign.fix}${foreign.xgboost ? ', served with format: xgboost' : ''}`;
}
