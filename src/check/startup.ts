// The server's start-up failure message for a config problem: the first failing stage (schema,
// then the ONNX signature) stops `serve`; the full check then lists every problem of every model.
import { ModelServeError } from '../errors.js';
import { formatModelProblems } from './problems.js';
import { checkRepository } from './repository.js';

export async function completeStartupMessage(err: ModelServeError, repo: string, optimize: boolean): Promise<string> {
  if (err.code !== 'MS_ERR_CONFIG_INVALID' && err.code !== 'MS_ERR_MODEL_SIGNATURE') return err.message;
  try {
    const report = await checkRepository(repo, { optimize });
    const errors = report.problems.filter((p) => p.severity === 'error');
    return errors.length > 0 ? formatModelProblems(errors) : err.message;
  } catch {
    return err.message;
  }
}
