// A model version as a path segment or an OIP field gives it, on every front door.
import { ModelServeError } from '../errors.js';

/** A version string ('' or undefined: the server's choice) -> a version number; anything else is a 404. */
export function parseVersion(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^[1-9][0-9]{0,8}$/.test(text)) throw new ModelServeError('MS_ERR_MODEL_NOT_FOUND', `'${text.slice(0, 32)}' is not a version number (a positive integer)`);
  return Number(text);
}
