// The model config schema's validator. Compiling the schema with ajv takes about 50 ms here, a
// large share of the server's cold start, so `npm run build` compiles it once into code (ajv's
// standalone mode: scripts/build-config-validator.mjs writes dist/src/config/
// config-schema-validator.cjs) and this loads that code. The file carries a fingerprint of the
// schema and the options; when it is missing or was built from another schema (only `tsc` run
// after a schema change), the schema is compiled here as before.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Ajv, type Options, type ValidateFunction } from 'ajv';
import { MODEL_CONFIG_SCHEMA } from './schema.js';

// Our own, fixed schema: no meta-schema to load and validate against (a cold-start cost), and no
// optimisation passes over code that runs once per config file.
export const SCHEMA_AJV_OPTIONS: Options = { allErrors: true, strict: false, meta: false, validateSchema: false, code: { optimize: false } };

export const GENERATED_VALIDATOR = 'config-schema-validator.cjs';

/** What the generated validator was built from: the schema and the options. */
export function schemaFingerprint(): string {
  return createHash('sha256').update(JSON.stringify([MODEL_CONFIG_SCHEMA, SCHEMA_AJV_OPTIONS])).digest('hex');
}

/** The generated validator when it matches the schema, else undefined. */
export function generatedValidator(): ValidateFunction | undefined {
  try {
    const generated = createRequire(import.meta.url)(`./${GENERATED_VALIDATOR}`) as ValidateFunction & { fingerprint?: string };
    return generated.fingerprint === schemaFingerprint() ? generated : undefined;
  } catch {
    return undefined;
  }
}

export function configSchemaValidator(): ValidateFunction {
  return generatedValidator() ?? new Ajv(SCHEMA_AJV_OPTIONS).compile(MODEL_CONFIG_SCHEMA);
}
