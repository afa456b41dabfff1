// The model config schema's validator. Compiling the schema with ajv takes about 50 ms here, a
// large share of the server's cold start, so `npm run build` compiles it once into code (ajv's
// standalone mode: scripts/build-config-validator.mjs writes dist/src/config/
// config-schema-validator.cjs) and this loads that code. The file carries a fingerprint of the
// schema, the options and ajv's version; when it is missing or was built from another one (only
// `tsc` run after a schema change), the schema is compiled here as before.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Ajv, type Options, type ValidateFunction } from 'ajv';
import { MODEL_CONFIG_SCHEMA } from './schema.js';

// Our own, fixed schema: no meta-schema to load and validate against (a cold-start cost), and no
// optimisation passes over code that runs once per config file.
export const SCHEMA_AJV_OPTIONS: Options = { allErrors: true, strict: false, meta: false, validateSchema: false, code: { optimize: false } };

export const GENERATED_VALIDATOR = 'config-schema-validator.cjs';

const require = createRequire(import.meta.url);

/** What the generated validator was built from: the schema, the options and ajv's version (its code and messages). */
export function schemaFingerprint(): string {
  const ajvVersion = (require('ajv/package.json') as { version: string }).version;
  return createHash('sha256').update(JSON.stringify([MODEL_CONFIG_SCHEMA, SCHEMA_AJV_OPTIONS, ajvVersion])).digest('hex');
}

/**
 * The generated validator when it was built from this schema, options and ajv, else undefined.
 * Only its absence is quiet: a file that is there but fails to load is a broken installation,
 * and that error is thrown.
 */
export function generatedValidator(): ValidateFunction | undefined {
  let generated: ValidateFunction & { fingerprint?: string };
  try {
    generated = require(`./${GENERATED_VALIDATOR}`) as typeof generated;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // Only the file itself missing ("Cannot find module './config-…'"), not a module it requires.
    if (e.code === 'MODULE_NOT_FOUND' && e.message.startsWith(`Cannot find module './${GENERATED_VALIDATOR}'`)) return undefined;
    throw err;
  }
  return generated.fingerprint === schemaFingerprint() ? generated : undefined;
}

export function configSchemaValidator(): ValidateFunction {
  return generatedValidator() ?? new Ajv(SCHEMA_AJV_OPTIONS).compile(MODEL_CONFIG_SCHEMA);
}
