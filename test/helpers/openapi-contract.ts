// The OpenAPI document as a contract, as a client generated from it reads it: each answer's status
// must be one its operation lists, with a listed content type and a body valid against that
// response's schema (ajv, OpenAPI 3.0's nullable included), each header it declares required present and
// each of the service's headers it carries declared;
// and the document's operation ids unique.
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { request } from 'undici';

type Schema = Record<string, unknown>;
interface Header { required?: boolean; $ref?: string }
interface Operation { operationId?: string; responses: Record<string, { headers?: Record<string, Header>; content?: Record<string, { schema: Schema }> }> }
export interface OpenApiDocument { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema>; headers?: Record<string, Header> } }

export interface Answer { status: number; headers: Record<string, string | string[] | undefined>; text: string }

export interface Contract {
  doc: OpenApiDocument;
  /** Sends the request and asserts that the answer is what the document says; returns it. */
  send(method: string, path: string, options?: { body?: unknown; raw?: string; headers?: Record<string, string> }): Promise<Answer>;
}

/** The operation of `method` on the document's path template that `path` matches (a literal path first). */
function operationFor(doc: OpenApiDocument, method: string, path: string): Operation | undefined {
  const templates = Object.keys(doc.paths).sort((a, b) => Number(a.includes('{')) - Number(b.includes('{')));
  const template = templates.find((t) => new RegExp(`^${t.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path) && doc.paths[t]![method]);
  return template === undefined ? undefined : doc.paths[template]![method];
}

/** The service's own answer headers a generated client reads: when an answer carries one, its response must declare it. */
const SERVICE_HEADERS = ['x-request-id', 'x-model-version', 'retry-after', 'www-authenticate', 'inference-header-content-length'];

/**
 * Every operation has an id and no two share one (OpenAPI requires it), nor fold to the same method
 * name as a generator writes it (openapi-generator camel-cases at '-' and '_' and dedups ignoring case:
 * predict_my-model and predict_my_model are both predictMyModel).
 */
export function assertUniqueOperationIds(doc: { paths: Record<string, Record<string, { operationId?: string }>> }): void {
  const seen = new Map<string, string>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const where = `${method} ${path}`;
      assert.ok(operation.operationId, `${where} has no operationId`);
      const folded = operation.operationId.toLowerCase().replace(/[^a-z0-9]/g, '');
      assert.equal(seen.get(folded), undefined, `${where} has the operationId '${operation.operationId}', which a generated client names as ${seen.get(folded)}'s`);
      seen.set(folded, `${where} (${operation.operationId})`);
    }
  }
}

/** Reads `${url}/openapi.json` and returns a client that checks every answer against it. */
export async function openApiContract(url: string, headers: Record<string, string> = {}): Promise<Contract> {
  const doc = await (await request(`${url}/openapi.json`, { headers })).body.json() as OpenApiDocument;
  assertUniqueOperationIds(doc);
  const ajv = new Ajv({ strict: false, allErrors: true, formats: { binary: true } });
  ajv.addSchema({ $id: 'openapi', components: doc.components });
  const validator = (schema: Schema) => ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/')) as Schema);
  return {
    doc,
    async send(method, path, options = {}) {
      const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
      const res = await request(`${url}${path}`, { method: method as 'GET', body, headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers } });
      const answer = { status: res.statusCode, headers: res.headers, text: await res.body.text() };
      const where = `${method} ${path} answered ${answer.status} ${answer.text.slice(0, 300)}`;
      const operation = operationFor(doc, method.toLowerCase(), path);
      assert.ok(operation, `${where}: the document has no such operation`);
      const response = operation.responses[String(answer.status)];
      assert.ok(response, `${where}: the operation does not list this status (it lists ${Object.keys(operation.responses).join(', ')})`);
      const type = String(answer.headers['content-type'] ?? '').split(';')[0]!;
      const content = response.content?.[type];
      assert.ok(content, `${where}: the response does not list the content type '${type}'`);
      const declaredNames = Object.keys(response.headers ?? {}).map((name) => name.toLowerCase());
      for (const name of SERVICE_HEADERS) assert.ok(answer.headers[name] === undefined || declaredNames.includes(name), `${where}: the answer carries ${name}, which the response does not declare`);
      for (const [name, declared] of Object.entries(response.headers ?? {})) {
        const header = declared.$ref === undefined ? declared : doc.components.headers?.[declared.$ref.replace('#/components/headers/', '')];
        assert.ok(header, `${where}: the header ${name} refers to ${declared.$ref}, which the document does not have`);
        if (header.required) assert.ok(answer.headers[name.toLowerCase()] !== undefined, `${where}: the response declares the header ${name} always present, and it is not`);
      }
      const validate = validator(content.schema);
      assert.ok(validate(JSON.parse(answer.text)), `${where}: the body is not valid against the documented schema: ${JSON.stringify(validate.errors)}`);
      return answer;
    },
  };
}

/** Where an example (or default) sits in the document, the value, and the schema it illustrates. */
interface Illustration { where: string; value: unknown; schema: Schema }

/** Every example, examples value and default of the document, each with the schema it illustrates. */
function illustrations(doc: OpenApiDocument): Illustration[] {
  const found: Illustration[] = [];
  // A schema's own example and default illustrate it; its subschemas are walked by keyword, so a
  // property named "example" is a schema, not an example.
  const walkSchema = (schema: unknown, where: string): void => {
    if (schema === null || typeof schema !== 'object' || '$ref' in schema) return;
    const s = schema as Schema;
    for (const key of ['example', 'default'] as const) if (s[key] !== undefined) found.push({ where: `${where}.${key}`, value: s[key], schema: s });
    for (const [name, sub] of Object.entries((s.properties ?? {}) as Record<string, unknown>)) walkSchema(sub, `${where}.properties.${name}`);
    for (const key of ['items', 'additionalProperties', 'not'] as const) walkSchema(s[key], `${where}.${key}`);
    for (const key of ['oneOf', 'anyOf', 'allOf'] as const) ((s[key] ?? []) as unknown[]).forEach((sub, i) => walkSchema(sub, `${where}.${key}[${i}]`));
  };
  // A media type, parameter or header: its example and examples illustrate its schema.
  const walkHolder = (holder: unknown, where: string): void => {
    if (holder === null || typeof holder !== 'object' || '$ref' in holder) return;
    const h = holder as { schema?: Schema; example?: unknown; examples?: Record<string, { value?: unknown }> };
    if (h.schema === undefined) return;
    walkSchema(h.schema, `${where}.schema`);
    if (h.example !== undefined) found.push({ where: `${where}.example`, value: h.example, schema: h.schema });
    for (const [name, example] of Object.entries(h.examples ?? {})) if (example.value !== undefined) found.push({ where: `${where}.examples.${name}`, value: example.value, schema: h.schema });
  };
  type Content = Record<string, unknown> | undefined;
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item as unknown as Record<string, Record<string, unknown>>)) {
      const where = `${method} ${path}`;
      ((operation.parameters ?? []) as unknown[]).forEach((p, i) => walkHolder(p, `${where} parameters[${i}]`));
      const body = operation.requestBody as { content?: Content } | undefined;
      for (const [type, media] of Object.entries(body?.content ?? {})) walkHolder(media, `${where} requestBody ${type}`);
      for (const [status, response] of Object.entries((operation.responses ?? {}) as Record<string, { content?: Content; headers?: Content }>)) {
        for (const [type, media] of Object.entries(response.content ?? {})) walkHolder(media, `${where} ${status} ${type}`);
        for (const [name, header] of Object.entries(response.headers ?? {})) walkHolder(header, `${where} ${status} header ${name}`);
      }
    }
  }
  for (const [name, header] of Object.entries(doc.components.headers ?? {})) walkHolder(header, `components.headers.${name}`);
  for (const [name, schema] of Object.entries(doc.components.schemas)) walkSchema(schema, `components.schemas.${name}`);
  return found;
}

/**
 * Asserts that every example, examples value and default in the document is valid against the schema
 * it illustrates, as a schema validator in strict mode reads OpenAPI 3.0's dialect (nullable needs a
 * type beside it; example is an annotation); returns how many it checked.
 */
export function assertExamplesValid(doc: OpenApiDocument): number {
  const ajv = new Ajv({ strict: true, allErrors: true, formats: { binary: true }, keywords: ['example'] });
  const local = (schema: unknown): Schema => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"openapi#/definitions/')) as Schema;
  ajv.addSchema({ $id: 'openapi', definitions: local(doc.components.schemas) });
  const wrong: string[] = [];
  const all = illustrations(doc);
  for (const { where, value, schema } of all) {
    const validate = ajv.compile(local(schema));
    if (!validate(value)) wrong.push(`${where} = ${JSON.stringify(value)}: ${ajv.errorsText(validate.errors)}`);
  }
  assert.deepEqual(wrong, [], 'examples that their schemas refuse');
  return all.length;
}
