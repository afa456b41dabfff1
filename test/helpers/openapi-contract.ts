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

/** Every operation has an id and no two share one (OpenAPI requires it; a generated client's method names are the ids). */
export function assertUniqueOperationIds(doc: { paths: Record<string, Record<string, { operationId?: string }>> }): void {
  const seen = new Map<string, string>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const where = `${method} ${path}`;
      assert.ok(operation.operationId, `${where} has no operationId`);
      assert.equal(seen.get(operation.operationId), undefined, `${where} has the operationId '${operation.operationId}' of ${seen.get(operation.operationId)}`);
      seen.set(operation.operationId, where);
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
