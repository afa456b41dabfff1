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

/**
 * Why a JSON document's bytes are cut short — a copy still under way, or one that stopped: they end within a string
 * or with an object or array still open, or hold nothing yet (`cp` creates the file first). Undefined for a whole
 * document, and for bytes that are no JSON object or array (the converter says what is wrong with them). Takes the
 * bytes in chunks, so that a file is scanned without being held; tracks nesting only, never parses.
 */
export function jsonEndsEarly(chunks: Iterable<Uint8Array>): string | undefined {
  let size = 0;
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (const chunk of chunks) {
    // A UTF-8 byte order mark (an editor's) before the document.
    const start = size === 0 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf ? 3 : 0;
    for (let i = start; i < chunk.length; i++) {
      const c = chunk[i]!;
      const space = c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true; // backslash
        else if (c === 0x22) inString = false;
      } else if (c === 0x7b || c === 0x5b) depth++;
      // A control or non-ASCII byte outside a string: binary (UBJSON opens with '{' too), no JSON.
      else if ((c < 0x20 && !space) || c >= 0x80) return undefined;
      else if (depth > 0 && c === 0x22) inString = true;
      else if (depth > 0 && (c === 0x7d || c === 0x5d)) depth--;
      // Anything else outside the document (before it, after it): no JSON object or array cut short.
      else if (depth === 0 && !space) return undefined;
    }
    size += chunk.length;
  }
  if (size === 0) return 'it is empty';
  if (inString) return `it ends within a string at byte ${size}`;
  if (depth > 0) return `it ends at byte ${size} with ${depth === 1 ? '1 object or array' : `${depth} objects or arrays`} still open`;
  return undefined;
}

/** How serve and check take an XGBoost JSON model: by its config. */
export const XGBOOST_FIX_CONFIG = 'add format: xgboost to the config';

const LFS_POINTER = 'version https://git-lfs.github.com/spec/';

/**
 * What a file that should be an ONNX model and is not looks like, told from its first bytes (a few hundred are enough):
 * empty, a Git LFS pointer, a zip (PyTorch .pt, Keras .keras), HDF5 (Keras .h5), JSON (an XGBoost model among it), text.
 * Only called once a file is known not to load: never on the happy path. Undefined when it is none of these.
 * `xgboostFix` says how to give an XGBoost JSON model to the command at hand (serve and check read a config; inspect and init do not).
 * `quote`: whether the first line of a text is quoted. Not in what API clients read: a config's model: may name any file
 * the server can read (a keys file), and its failure reaches every client (GET /models).
 */
export function notOnnxLooksLike(head: Uint8Array, xgboostFix = XGBOOST_FIX_CONFIG, quote = true): string | undefined {
  const bytes = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (bytes.length === 0) return 'it is empty';
  if (bytes.toString('latin1', 0, LFS_POINTER.length) === LFS_POINTER) return 'it is a Git LFS pointer, not the model: fetch the model itself (git lfs pull)';
  if (bytes.toString('latin1', 0, 4) === 'PK\x03\x04') return 'it looks like a zip archive (a PyTorch .pt/.pth or a Keras .keras model): export the model to ONNX (torch.onnx.export, tf2onnx)';
  if (bytes.toString('latin1', 0, 8) === '\x89HDF\r\n\x1a\n') return 'it looks like an HDF5 file (a Keras .h5 model): convert it to ONNX (tf2onnx)';
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) return 'it looks like UTF-16 text, not a model';
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  // Cut at a character split by the head's end, text is text: control characters other than whitespace are binary.
  if ([...text].some((c) => { const code = c.charCodeAt(0); return (code < 0x20 && !'\t\n\r\f\v'.includes(c)) || code === 0x7f; }) || /\uFFFD./s.test(text)) return undefined;
  const start = text.trimStart();
  if (start === '') return 'it holds only blank space';
  if (/^\{\s*"learner"\s*:/.test(start)) return `it is an XGBoost JSON model: ${xgboostFix}`;
  const what = /^[[{]\s*["[{\]}\d-]/.test(start) ? 'JSON' : 'text';
  return `it looks like ${what} (${quote ? `starts with '${quoted(start)}'` : QUOTE_WITHHELD})`;
}

/** Said instead of a file's first line where API clients read it. */
export const QUOTE_WITHHELD = "its first line is quoted in the server's log and by modelserve check, not here";

/** The first line of a text, shortened, to quote in a message. */
function quoted(text: string): string {
  const line = text.split(/\r?\n/, 1)[0]!;
  return line.length > 40 ? `${line.slice(0, 40)}…` : line;
}
