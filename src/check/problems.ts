// One list for every problem a model repository can have, from the config file to the ONNX
// session: `modelserve check`, `serve --check` and the server's start-up all print it.
import { relative } from 'node:path';
import type { ModelConfig } from '../config/types.js';
import { checkRawSignature, checkSignature, signatureWarnings } from '../config/signature.js';
import type { ModelSignature } from '../runtime/types.js';

export interface ModelProblem {
  /** The config file (or data file) the problem is in. */
  file: string;
  /** Key path in that file, e.g. inputs.float_input.scale.file; '(file)' for the whole file. */
  key: string;
  message: string;
  /** Errors stop the server; warnings are printed and it serves anyway; notes say what its load decides (batching, threads), nothing wrong. */
  severity: 'error' | 'warning' | 'note';
  /** A mismatch between the config and the model's signature (the rest are config or data problems). */
  signature?: boolean;
}

/** Splits checkSignature's "key.path: message" strings. */
function splitKey(text: string): { key: string; message: string } {
  const at = text.indexOf(': ');
  return at < 0 ? { key: '(model)', message: text } : { key: text.slice(0, at), message: text.slice(at + 2) };
}

/**
 * Every mismatch between each config and its model's real signature (names, element types,
 * widths, unfed inputs, missing outputs; for a raw model, what its graph has that modelserve cannot feed). Configs without a signature are skipped: their model
 * did not load, which is reported where the load failed.
 */
export function collectModelProblems(configs: readonly ModelConfig[], signatures: Readonly<Record<string, ModelSignature | undefined>>): ModelProblem[] {
  const problems: ModelProblem[] = [];
  for (const config of configs) {
    const signature = signatures[config.name];
    if (!signature) continue;
    const found = config.kind === 'raw' ? checkRawSignature(signature) : checkSignature(config, signature);
    for (const p of found) problems.push({ file: config.configFile, ...splitKey(p), severity: 'error', signature: true });
    if (config.kind !== 'raw') for (const p of signatureWarnings(config, signature)) problems.push({ file: config.configFile, ...splitKey(p), severity: 'warning', signature: true });
  }
  return problems;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The printed list: errors first, each "file: key: message" relative to cwd, then warnings, then notes. */
export function formatModelProblems(problems: readonly ModelProblem[], cwd = process.cwd()): string {
  const line = (p: ModelProblem) => `  ${relative(cwd, p.file) || p.file}: ${p.key}: ${p.message}`;
  const errors = problems.filter((p) => p.severity === 'error');
  const warnings = problems.filter((p) => p.severity === 'warning');
  const notes = problems.filter((p) => p.severity === 'note');
  const parts: string[] = [];
  if (errors.length > 0) {
    // Keep the two headers the server always printed: a config problem, or a config that does not fit its model.
    const onlySignature = errors.every((p) => p.signature === true);
    parts.push(`${onlySignature ? 'model configuration does not match the ONNX model' : 'invalid model configuration'} (${plural(errors.length, 'problem')}):`, ...errors.map(line));
  }
  if (warnings.length > 0) parts.push(`${plural(warnings.length, 'warning')}:`, ...warnings.map(line));
  if (notes.length > 0) parts.push(`${plural(notes.length, 'note')}:`, ...notes.map(line));
  return parts.join('\n');
}
