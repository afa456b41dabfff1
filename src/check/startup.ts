// The server's start-up failure message for a config problem: the first failing stage (schema,
// then the ONNX signature, or the load of two or more models) stops `serve`; the full check then
// lists every problem of every model.
// The real failure is never replaced by a list that does not hold it: when the check names none of
// the files the failure names, the failure's own message is printed.
import { relative } from 'node:path';
import { ModelServeError } from '../errors.js';
import { STARTUP_WARNING_PREFIXES } from '../startup-warnings.js';
import { formatModelProblems } from './problems.js';
import { checkRepository } from './repository.js';

export async function completeStartupMessage(err: ModelServeError, repo: string, optimize: boolean): Promise<string> {
  // Each problem line of the failure is "  <file relative to cwd>: <key>: <message>".
  const failing = [...err.message.matchAll(/^ {2}(.+?): /gm)].map((m) => m[1]!);
  // Models that failed to load are a list too when there are two or more (one is its own line).
  const isList = err.code === 'MS_ERR_CONFIG_INVALID' || err.code === 'MS_ERR_MODEL_SIGNATURE' || (err.code === 'MS_ERR_MODEL_LOAD' && failing.length > 0);
  if (!isList) return err.message;
  try {
    const report = await checkRepository(repo, { optimize });
    const errors = report.problems.filter((p) => p.severity === 'error');
    const listed = new Set(errors.map((p) => relative(process.cwd(), p.file) || p.file));
    if (errors.length === 0 || failing.some((file) => !listed.has(file))) return err.message;
    // The warnings startServer said with the failure (load warnings, version folder links to nothing): kept.
    const warnings = err.message.split('\n').filter((line) => STARTUP_WARNING_PREFIXES.some((prefix) => line.startsWith(prefix)));
    return [formatModelProblems(errors), ...warnings].join('\n');
  } catch {
    return err.message;
  }
}
