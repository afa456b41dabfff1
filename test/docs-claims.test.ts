// The specific names README.md and docs/*.md give — flags, metric names and their labels, model
// config keys and their defaults, config snippets — checked against the code, so that renaming or
// removing one without its docs fails here:
// - every `--flag` in the prose (outside code blocks) is an option of a modelserve command (from
//   the commands' own --help) or a flag of another tool listed below with its tool;
// - every modelserve_* metric the docs name is registered by a running server (with an events sink,
//   and the MQTT front door's series), and docs/production.md's metrics table gives each metric's
//   type and labels as /metrics serves them;
// - the README's config tables name keys of the config schema, with the defaults the loader uses,
//   every top-level config key is documented, and every YAML config snippet in the docs validates;
// - the README's `modelserve loadtest|serve` commands (blocks and inline) are accepted as written
//   (test/docs.test.ts does the same for docs/*.md).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { Registry } from 'prom-client';
import { startServer, type RunningServer } from '../src/server.js';
import { Metrics } from '../src/metrics/metrics.js';
import { MqttMetrics } from '../src/mqtt/metrics.js';
import { parseServeOptions } from '../src/cli/serve-options.js';
import { parseRunArgs } from '../src/loadtest/args.js';
import { DEFAULTS, MODEL_CONFIG_SCHEMA } from '../src/config/schema.js';
import { SCHEMA_AJV_OPTIONS } from '../src/config/schema-validator.js';
import { CLI, EXAMPLES, REPO, tempDir } from './helpers/paths.js';
import { grpcClients, rpc } from './helpers/oip.js';

const FILES = ['README.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const TEXT = new Map(FILES.map((f) => [f, readFileSync(join(REPO, f), 'utf8')]));
const FENCE = /^[ \t]*```[\s\S]*?^[ \t]*```/gm;

/** A file's text with its fenced blocks blanked out (line numbers kept). */
function prose(file: string): string {
  return TEXT.get(file)!.replace(FENCE, (block) => block.replace(/[^\n]/g, ''));
}

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

/** The fenced blocks of a file whose info string is one of `langs`. */
function fenced(file: string, langs: string[]): Array<{ line: number; body: string }> {
  const text = TEXT.get(file)!;
  const out: Array<{ line: number; body: string }> = [];
  for (const m of text.matchAll(/^([ \t]*)```(\w*)\n([\s\S]*?)^[ \t]*```/gm)) {
    if (langs.includes(m[2]!)) out.push({ line: lineOf(text, m.index), body: m[3]!.split('\n').map((l) => l.slice(m[1]!.length)).join('\n') });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Flags

/**
 * Flags of other tools that the prose names, with the tool: anything else that looks like a flag
 * must be a modelserve option. (Shell blocks are not scanned: docs.test.ts runs or parses them.)
 */
const FOREIGN_FLAGS: Record<string, string> = {
  cpus: 'docker run', memory: 'docker run / gcloud run', network: 'docker build', mount: 'Dockerfile RUN --mount',
  'ignore-scripts': 'npm ci', omit: 'npm ci', 'read-only': 'docker run', tmpfs: 'docker run', 'build-arg': 'docker build',
  platform: 'docker buildx', push: 'docker buildx', tag: 'gcloud builds submit', image: 'gcloud run', concurrency: 'gcloud run',
  'set-secrets': 'gcloud run', 'update-env-vars': 'gcloud run', 'no-allow-unauthenticated': 'gcloud run', cpu: 'gcloud run',
  streaming: "perf_analyzer", 'max-old-space-size': 'node', only: 'npm run bench', seconds: 'node dist/bench/runtime.js',
  rounds: 'node dist/bench/runtime.js', build: 'docker compose up', rm: 'docker run', region: 'gcloud run',
  'service-account': 'gcloud run', init: 'docker run',
};

function helpText(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args, '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `modelserve ${args.join(' ')} --help exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function modelserveFlags(): Set<string> {
  const helps = [[], ['serve'], ['loadtest'], ['loadtest', 'measure'], ['loadtest', 'compare'], ['init'], ['check'], ['inspect'], ['convert'], ['optimize']].map(helpText);
  const flags = new Set<string>(['help', 'version']);
  for (const text of helps) {
    for (const [, neg, name] of text.matchAll(/--(\[no-\])?([a-z][a-z0-9-]*)/g)) {
      flags.add(name!);
      if (neg) flags.add(`no-${name}`);
    }
  }
  return flags;
}

test('docs: every flag the prose names is an option of a modelserve command (or of the tool named in FOREIGN_FLAGS)', () => {
  const known = modelserveFlags();
  for (const flag of Object.keys(FOREIGN_FLAGS)) assert.ok(!known.has(flag), `--${flag} is a modelserve option now: take it out of FOREIGN_FLAGS`);
  const unknown: string[] = [];
  let checked = 0;
  for (const file of FILES) {
    const text = prose(file);
    for (const m of text.matchAll(/(?<![\w-])--(\[no-\])?([a-z][a-z0-9-]*)/g)) {
      const flag = m[2]!;
      checked++;
      if (known.has(flag) || (m[1] && known.has(`no-${flag}`)) || flag in FOREIGN_FLAGS) continue;
      unknown.push(`${file}:${lineOf(text, m.index)}: --${m[1] ?? ''}${flag}`);
    }
  }
  assert.deepEqual(unknown, [], 'flags no modelserve command has (a renamed or removed option?)');
  assert.ok(checked > 100, `${checked} flags checked`);
});

test('README: its `modelserve loadtest|serve` commands, in blocks and inline, are accepted as written', () => {
  const commands: string[] = [];
  for (const b of fenced('README.md', ['sh', 'bash'])) {
    for (const line of b.body.replace(/\\\n\s*/g, ' ').split('\n')) {
      const c = line.replace(/\s+#.*$/, '').trim();
      if (/^(npx )?modelserve (loadtest|serve) /.test(c)) commands.push(c);
    }
  }
  for (const [, span] of prose('README.md').matchAll(/`((?:npx )?modelserve (?:loadtest|serve) [^`]*)`/g)) commands.push(span!);
  let checked = 0;
  for (const c of commands) {
    const argv = [...c.replace(/^npx /, '').matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!).slice(1);
    // Synopses (`<url>`, `[options]`) describe the syntax; they are not commands.
    // So are mentions of a feature (`modelserve loadtest --find-capacity`): a run needs its URL.
    if (argv.some((w) => /^[<[]/.test(w)) || (argv[0] === 'loadtest' && !argv.slice(1).some((w) => !w.startsWith('-')))) continue;
    checked++;
    if (argv[0] === 'serve') assert.doesNotThrow(() => parseServeOptions(argv.slice(1), {}), c);
    else if (argv[1] !== 'compare') assert.doesNotThrow(() => parseRunArgs(argv.slice(argv[1] === 'measure' ? 2 : 1)), c);
  }
  assert.ok(checked >= 5, `${checked} commands checked`);
});

// ---------------------------------------------------------------------------------------------
// Metrics

let server: RunningServer;
let metrics: Metrics;
before(async () => {
  const dir = tempDir('modelserve-docs-claims-');
  const options = parseServeOptions(['--events-file', join(dir, 'events.jsonl')], {});
  metrics = new Metrics();
  server = await startServer({ repo: EXAMPLES, port: 0, grpcPort: 'free', workers: 1, logger: false, streams: options.streams, app: { metrics } });
});
after(async () => {
  await server?.shutdown();
});

interface Served { type: string; labels: Set<string> | undefined }

/** Every modelserve_* metric the server registers (plus the MQTT front door's), with its type and labels. */
async function servedMetrics(): Promise<Map<string, Served>> {
  // Traffic, so that labelled series have samples: an answer, a 422, a 404, a gRPC call.
  const row = JSON.parse(readFileSync(join(EXAMPLES, 'weather', 'samples', 'valid.json'), 'utf8')) as unknown[];
  for (const body of [JSON.stringify(row[0]), '{}']) {
    const res = await fetch(`${server.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await res.arrayBuffer();
  }
  await (await fetch(`${server.url}/models/nope/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).arrayBuffer();
  // A gRPC call, for the gRPC series.
  const grpc = grpcClients(server.grpcPort!);
  await rpc(grpc.inference, 'ModelReady', { name: 'weather' });
  grpc.close();
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  const mqtt = new Registry();
  new MqttMetrics(mqtt, () => false);
  const out = new Map<string, Served>();
  for (const registry of [metrics.registry, mqtt]) {
    for (const m of registry.getMetricsAsArray()) {
      const labelNames = (m as unknown as { labelNames?: string[] }).labelNames;
      if (m.name.startsWith('modelserve_')) out.set(m.name, { type: '', labels: labelNames ? new Set(labelNames) : undefined });
    }
  }
  const served = text + (await mqtt.metrics());
  for (const [, name, type] of served.matchAll(/^# TYPE (modelserve_\w+) (\w+)$/gm)) {
    const entry = out.get(name!) ?? { type: '', labels: undefined };
    entry.type = type!;
    out.set(name!, entry);
  }
  for (const [, name, labels] of served.matchAll(/^(modelserve_\w+?)(?:_bucket|_sum|_count)?\{([^}]*)\}/gm)) {
    const base = out.has(name!) ? name! : name!.replace(/_(bucket|sum|count)$/, '');
    const entry = out.get(base);
    if (!entry) continue;
    entry.labels = new Set([...labels!.matchAll(/(\w+)="/g)].map((l) => l[1]!).filter((l) => l !== 'le'));
  }
  return out;
}

test('docs: every modelserve_* metric the docs name is registered, and docs/production.md gives its type and labels', async () => {
  const served = await servedMetrics();
  assert.ok(served.has('modelserve_events_total') && served.has('modelserve_mqtt_connected'), 'the events and MQTT series are registered');
  const missing: string[] = [];
  for (const file of FILES) {
    const text = TEXT.get(file)!;
    for (const m of text.matchAll(/(?<![\w-])modelserve_[a-z_]+/g)) {
      const name = m[0];
      if (name === 'modelserve_modelserve') continue; // docs/deploy.md: the Swarm service of the stack named modelserve
      const histogram = /_(bucket|sum|count)$/.test(name) && served.get(name.replace(/_(bucket|sum|count)$/, ''))?.type === 'histogram';
      if (!served.has(name) && !histogram) missing.push(`${file}:${lineOf(text, m.index)}: ${name}`);
    }
  }
  assert.deepEqual(missing, [], 'metrics the server does not register');

  const production = TEXT.get('docs/production.md')!;
  const rows = [...production.matchAll(/^\| `(modelserve_\w+)` \| (\w*) \| ([^|]*) \|/gm)];
  assert.ok(rows.length >= 15, `${rows.length} rows in docs/production.md's metrics table`);
  for (const [, name, type, labels] of rows) {
    const s = served.get(name!);
    assert.ok(s, `${name} is not registered`);
    assert.equal(type, s.type, `${name}: documented type`);
    assert.ok(s.labels, `${name}: no labels known`);
    const documented = [...labels!.matchAll(/`(\w+)`/g)].map((l) => l[1]!).sort();
    assert.deepEqual(documented, [...s.labels].sort(), `${name}: documented labels`);
  }
});

// ---------------------------------------------------------------------------------------------
// Model config keys

interface SchemaNode { properties?: Record<string, SchemaNode>; additionalProperties?: SchemaNode | boolean }

/** The schema node of a dotted config key (`batching.max_batch_size`), or undefined. */
function schemaAt(node: SchemaNode, path: string[]): SchemaNode | undefined {
  let at: SchemaNode | undefined = node;
  for (const key of path) at = at?.properties?.[key];
  return at;
}

/** The rows of the README table under a heading: the backticked names of the first cell, and the cells. */
function tableUnder(heading: string): Array<{ keys: string[]; cells: string[] }> {
  const text = TEXT.get('README.md')!;
  const at = text.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `README has no '${heading}'`);
  const table = /\n(\|.*\|\n)+/.exec(text.slice(at))![0].trim().split('\n').slice(2);
  return table.map((line) => {
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
    return { keys: [...cells[0]!.matchAll(/`([\w.]+)`/g)].map((m) => m[1]!), cells };
  });
}

test('README: the config tables name keys of the config schema, with the loader\'s defaults', () => {
  const schema = MODEL_CONFIG_SCHEMA as unknown as SchemaNode;
  const field = (schema.properties!.fields!.additionalProperties as SchemaNode);
  const fieldRows = tableUnder('### Fields');
  for (const row of fieldRows) for (const key of row.keys) assert.ok(field.properties?.[key], `README, Fields: '${key}' is not a key of a field`);
  assert.deepEqual(fieldRows.flatMap((r) => r.keys).sort(), Object.keys(field.properties!).sort(), 'README, Fields: every key of a field');

  const camel = (s: string) => s.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
  let defaults = 0;
  for (const row of tableUnder('### More config keys')) {
    for (const key of row.keys) {
      assert.ok(schemaAt(schema, key.split('.')), `README, More config keys: '${key}' is not a config key`);
      const dflt = /^`([^`]*)`$/.exec(row.cells[1]!)?.[1];
      const known = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[camel(k)], DEFAULTS);
      if (dflt === undefined || known === undefined) continue;
      assert.equal(dflt, String(known), `README, More config keys: default of '${key}'`);
      defaults++;
    }
  }
  assert.ok(defaults >= 6, `${defaults} defaults checked`);
});

test('docs: every top-level config key is documented', () => {
  const all = FILES.map((f) => TEXT.get(f)!).join('\n');
  for (const key of Object.keys(MODEL_CONFIG_SCHEMA.properties)) {
    assert.match(all, new RegExp(`\`${key}(\`|:|\\.)`), `config key '${key}' is not documented (as \`${key}\` or \`${key}: …\`)`);
  }
});

test('docs: the YAML config snippets validate against the config schema', () => {
  const validate = new Ajv(SCHEMA_AJV_OPTIONS).compile(MODEL_CONFIG_SCHEMA);
  let checked = 0;
  for (const file of FILES) {
    for (const b of fenced(file, ['yaml', 'yml'])) {
      let doc = parseYaml(b.body) as unknown;
      // A pipeline step on its own (a list item): validate it as a step of a sequence.
      if (Array.isArray(doc)) doc = { pipeline: { sequence: doc } };
      if (doc === null || typeof doc !== 'object') continue;
      checked++;
      assert.ok(validate(doc), `${file}:${b.line}: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
    }
  }
  assert.ok(checked >= 7, `${checked} snippets checked`);
});

// ---------------------------------------------------------------------------------------------
// Endpoints

/** `a{b,c}[/d|/e]` → every path it stands for; `{name}` (no comma) is a parameter and stays. */
function expand(pattern: string): string[] {
  const alt = /\{([^{}]*,[^{}]*)\}|\[([^[\]]*)\]/.exec(pattern);
  if (!alt) return [pattern];
  const options = alt[1] !== undefined ? alt[1].split(',') : ['', ...alt[2]!.split('|')];
  return options.flatMap((o) => expand(pattern.slice(0, alt.index) + o + pattern.slice(alt.index + alt[0].length)));
}

/** The routes `modelserve serve --help` lists ("Endpoints: POST /a, /b, GET /c; …"), as `METHOD /path/:param`. */
function helpRoutes(): Set<string> {
  const line = helpText(['serve']).split('\n').find((l) => l.startsWith('Endpoints: '));
  assert.ok(line, 'serve --help has an Endpoints line');
  const out = new Set<string>();
  let method = '';
  for (const item of line.slice('Endpoints: '.length).replace(/, and gRPC on --grpc-port\.$/, '').replace(/Open Inference Protocol: /, '').split(/[;,] (?![^{]*\})/)) {
    const m = /^(?:(GET|POST) )?(\/\S*)$/.exec(item.trim());
    assert.ok(m, `serve --help, Endpoints: cannot read '${item}'`);
    method = m[1] ?? method;
    for (const path of expand(m[2]!)) out.add(`${method} ${path.replace(/\{(\w+)\}/g, (_, p: string) => `:${p === 'v' ? 'version' : p}`)}`);
  }
  return out;
}

/** The server's GET and POST routes (Fastify's route tree), without Swagger UI's and the dashboard's static files. */
function serverRoutes(): Set<string> {
  const out = new Set<string>();
  const stack: string[] = [];
  for (const line of server.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[└├]── (.+?) \(([^)]+)\)$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join('').replace(/(.)\/$/, '$1');
    if (/^\/docs\/.|^\/dashboard\/assets\//.test(path)) continue;
    for (const method of m[3]!.split(', ')) if (method === 'GET' || method === 'POST') out.add(`${method} ${path}`);
  }
  return out;
}

test('serve --help lists every route the server has, and only those', () => {
  const served = serverRoutes();
  assert.ok(served.size >= 25, `${served.size} routes read from the server`);
  const listed = helpRoutes();
  assert.deepEqual([...served].filter((r) => !listed.has(r)).sort(), [], 'routes serve --help does not list');
  assert.deepEqual([...listed].filter((r) => !served.has(r)).sort(), [], 'routes serve --help lists that the server does not have');
});

// ---------------------------------------------------------------------------------------------
// Environment variables

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const path = join(dir, e);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

test('docs: every MODELSERVE_* variable the code reads is documented, and every one the docs name is read (or set by a deploy file)', () => {
  const code = sources(join(REPO, 'src')).map((f) => readFileSync(f, 'utf8')).join('\n');
  const deploy = ['Dockerfile', 'docker-compose.yml', ...['kubernetes', 'knative', 'swarm', 'scale-out', 'kserve'].flatMap((d) => readdirSync(join(REPO, 'deploy', d)).map((f) => join('deploy', d, f)))]
    .map((f) => readFileSync(join(REPO, f), 'utf8')).join('\n');
  const docs = FILES.map((f) => TEXT.get(f)!).join('\n');
  const names = (text: string) => new Set([...text.matchAll(/\bMODELSERVE_[A-Z0-9_]*[A-Z0-9]\b/g)].map((m) => m[0]));
  const read = names(code);
  assert.ok(read.size >= 40, `${read.size} variables read by src/`);
  assert.deepEqual([...read].filter((v) => !docs.includes(v)).sort(), [], 'variables src/ reads that no doc names');
  // MODELSERVE_API_KEYS (docs/deploy.md) is a name the user picks, passed as --api-keys-env MODELSERVE_API_KEYS.
  const userNamed = new Set(['MODELSERVE_API_KEYS']);
  assert.deepEqual([...names(docs)].filter((v) => !read.has(v) && !userNamed.has(v) && !names(deploy).has(v)).sort(), [], 'variables the docs name that nothing reads');
});
