// `modelserve check`: every problem of every model of a repository in one run — the config's
// schema and cross-field rules (a config that fails its schema is still built as far as it goes,
// so its other problems are found too), scaler files, the ONNX file and its real signature from
// an onnxruntime session on this thread, the examples as a request, serve's load-time warm-up run
// on that session (see warm-up.ts), what the optimiser cannot rewrite, what the load decides from the
// graph (see load-notes.ts), and with a sample of data the silent mistakes (see sample.ts). Opens no port.
import { basename } from 'node:path';
import { buildConfig, configBesideProblem, findConfigFile, flatFilesBesideVersions, modelFolders, readConfigFile, readVersionConfig, repositoryDanglingLinks, repositoryProblems, schemaProblems, shapeProblems, underRejected, unreadSharedKeys, unreadVersionKeys, versionLocations, versionFolderProblem, versionLookalikes, versionPolicyProblems, type Problem, type RawConfig, type VersionLocation } from '../config/load.js';
import type { ModelConfig } from '../config/types.js';
import { StartupError } from '../errors.js';
import { ModelBytesError, readModelBytes } from '../core/model-bytes.js';
import { withDeclaredRanks, withGraphNames } from '../core/graph-shapes.js';
import { exampleRow } from '../core/model-version.js';
import { createSession, errorText, signatureOf, type OrtSession } from '../runtime/session.js';
import type { ModelSignature } from '../runtime/types.js';
import { resolvePipelines } from '../pipelines/check.js';
import { compileRequestValidator } from '../validation/request-validator.js';
import { readSample, repeatedColumns } from './csv.js';
import { collectModelProblems, type ModelProblem } from './problems.js';
import { checkSample } from './sample.js';
import { warmUpProblems } from './warm-up.js';
import { loadNotes } from './load-notes.js';
import { unreadableReason } from '../user-file.js';

export interface CheckOptions {
  /** false = as with --no-optimize: the optimiser is not run, so its verdicts are not reported. */
  optimize?: boolean;
  /** A CSV of real inputs to run through every model (check --sample). */
  sample?: string;
  /**
   * false when serve does not choose per model between its main thread and the workers (serve --check with
   * --workers 0: everything on the main thread; --inline-max-us 0: everything on the workers): which models
   * never run on the main thread is then no decision of the load, and not said. Default true (serve's default).
   */
  hybrid?: boolean;
}

export interface CheckReport {
  models: string[];
  /** Model folders whose config could not be read or parsed at all (their problems are listed). */
  unreadable: string[];
  /** Errors, warnings, and notes of what a model's load decides from its graph (not batched across requests, never on the main thread). */
  problems: ModelProblem[];
  /** Errors only: whether the repository would serve. */
  ok: boolean;
}


const fromConfig = (p: Problem): ModelProblem => ({ file: p.file, key: p.path, message: p.message, severity: 'error' });

/** Reads one model version's folder as far as it goes: the config (maybe partial) and its config problems. */
function readFolder(where: VersionLocation): { config?: ModelConfig; partial: boolean; problems: Problem[]; schema: Problem[] } {
  // An empty or unreadable version folder is said as serve says it, not as its config's problem.
  const folderProblem = versionFolderProblem(where);
  if (folderProblem !== undefined) {
    const problems = [{ file: where.dir, path: '(folder)', message: folderProblem }];
    return { partial: true, problems, schema: problems };
  }
  const file = findConfigFile(where.dir) ?? findConfigFile(where.modelDir);
  if (file === undefined) {
    // No config: a raw model (exactly one .onnx file), as serve reads it, or why the folder is neither.
    const problems: Problem[] = [];
    const config = readVersionConfig(where, problems);
    return { config, partial: problems.length > 0, problems, schema: problems };
  }
  const problems: Problem[] = [];
  const raw = readConfigFile(file, problems);
  const beside = configBesideProblem(file, raw);
  if (beside) problems.push(beside);
  if (raw === undefined) return { partial: true, problems, schema: problems };
  // What serve refuses before the schema (a model's missing fields/inputs/outputs, a pipeline's model keys) counts as the schema's.
  const schema = [...shapeProblems(raw).map((p) => ({ file, ...p })), ...schemaProblems(file, raw)];
  const built: Problem[] = [];
  let config: ModelConfig | undefined;
  try {
    config = buildConfig(where, file, structuredClone(raw) as RawConfig, (path, message) => built.push({ file, path, message }));
  } catch {
    // A config whose structure the schema rejected may not build at all; its schema problems say why.
    config = undefined;
  }
  // After a schema failure, keep only the problems in parts the schema did not already reject.
  const extra = built.filter((p) => !underRejected(p.path, schema));
  return { config, partial: schema.length > 0, problems: [...(beside ? [beside] : []), ...schema, ...extra], schema };
}

async function openModel(config: ModelConfig, optimize: boolean, problems: ModelProblem[]): Promise<{ session: OrtSession; bytes: Uint8Array; written: Uint8Array } | undefined> {
  const at = (key: string, message: string, severity: ModelProblem['severity'] = 'error') => problems.push({ file: config.configFile, key, message, severity });
  let read: Awaited<ReturnType<typeof readModelBytes>>;
  try {
    read = await readModelBytes(config, optimize);
  } catch (err) {
    if (!(err instanceof ModelBytesError)) throw err;
    at('model', err.stage === 'parse' ? `${config.modelFile} is not a valid ONNX model: ${err.message}` : `${config.modelFile} ${err.message}`);
    return undefined;
  }
  let session: OrtSession;
  try {
    session = await createSession(config.modelFile, read.bytes, { intraOpThreads: 1, interOpThreads: 1 });
  } catch (err) {
    at('model', err instanceof StartupError ? err.message : errorText(err));
    return undefined;
  }
  // Said only of a model that loads: of one that does not, 'it still serves' would be untrue.
  for (const s of read.optimization?.skipped ?? []) at('optimize', `the optimiser keeps ${s.op} '${s.node}' as it is: ${s.reason} (it still serves, with onnxruntime's own kernel)`, 'warning');
  return { session, bytes: read.bytes, written: read.written ?? read.bytes };
}

export async function checkRepository(repo: string, options: CheckOptions = {}): Promise<CheckReport> {
  const problems: ModelProblem[] = [];
  let sample;
  if (options.sample) {
    try {
      sample = readSample(options.sample);
    } catch (err) {
      problems.push({ file: options.sample, key: '(file)', message: `the sample ${unreadableReason(err)}`, severity: 'error' });
    }
    for (const { name, columns } of sample ? repeatedColumns(sample) : []) {
      const named = columns.map((n) => `${n} (${sample!.columns[n - 1]!.name})`);
      const list = `${named.slice(0, -1).join(', ')} and ${named.at(-1)!}`;
      const others = columns.length === 2 ? 'the other; rename or drop it' : 'the others; rename or drop them';
      problems.push({ file: options.sample, key: '(header)', message: `columns ${list} ${columns.length === 2 ? 'both' : 'all'} name ${name}: check reads ${name} from the first (column ${columns[0]}) and ignores ${others}`, severity: 'warning' });
    }
  }
  const unlistable: Problem[] = [];
  const folders = modelFolders(repo, unlistable);
  problems.push(...unlistable.map(fromConfig));
  const complete: ModelConfig[] = [];
  const models: string[] = [];
  const unreadable: string[] = [];
  // Every version on disk is checked (a version the policy does not serve today may serve tomorrow).
  for (const where of folders.flatMap((dir) => versionLocations(dir))) {
    const folder = readFolder(where);
    problems.push(...folder.problems.map(fromConfig));
    const config = folder.config;
    if (!config) {
      const name = basename(where.modelDir);
      if (!unreadable.includes(name)) unreadable.push(name);
      continue;
    }
    if (!models.includes(config.name)) models.push(config.name);
    if (!folder.partial) complete.push(config);
    const modelProblems: ModelProblem[] = [];
    // A pipeline has no model file of its own: its steps are checked against the other models below.
    const opened = config.pipeline || folder.problems.some((p) => p.path === 'model') ? undefined : await openModel(config, options.optimize ?? true, modelProblems);
    if (opened) {
      const { session } = opened;
      // As serve reads it (an input of no declared shape is not a scalar; serve warms no such model).
      const signature: ModelSignature = await withGraphNames(await withDeclaredRanks(signatureOf(session), opened.bytes), opened.bytes);
      const mismatches = collectModelProblems([config], { [config.name]: signature })
        .filter((p) => !underRejected(p.key, folder.schema));
      modelProblems.push(...mismatches);
      // A warning (a number field feeding an integer input) leaves the model to be run.
      const misfits = mismatches.filter((p) => p.severity === 'error');
      // (A config the schema rejected may hold types the request validator cannot compile; a raw model has no fields.)
      const example = folder.partial || config.kind === 'raw' ? undefined : compileRequestValidator(config, signature)(exampleRow(config));
      if (example && !example.ok) {
        for (const issue of example.issues) {
          const key = `fields.${issue.loc.slice(1).join('.')}`;
          // A field whose default, example or bounds the config's own checks (or the model's signature) refused is listed once, by them.
          if (folder.problems.some((p) => p.path.startsWith(`${key}.`)) || misfits.some((p) => p.key.startsWith(`${key}.`))) continue;
          modelProblems.push({ file: config.configFile, key, message: `the example row (examples, defaults) is not a valid request: ${issue.msg}`, severity: 'error' });
        }
      }
      // serve's load-time warm-up run, once the config fits its model (serve fails earlier otherwise).
      const warmUp = misfits.length === 0 && folder.problems.length === 0 && (config.kind === 'raw' || example?.ok === true)
        ? await warmUpProblems(config, signature, session, example?.ok === true ? example.rows : undefined)
        : [];
      modelProblems.push(...warmUp);
      // What its load decides from its graph (batching, the main thread), said of a model that serves.
      if (folder.problems.length === 0 && !modelProblems.some((p) => p.severity === 'error')) modelProblems.push(...await loadNotes(config, signature, opened.bytes, opened.written, options.hybrid !== false));
      if (sample && config.kind !== 'raw' && misfits.length === 0 && folder.problems.length === 0 && !warmUp.some((p) => p.severity === 'error')) {
        try {
          modelProblems.push(...await checkSample(config, signature, session, sample));
        } catch (err) {
          modelProblems.push({ file: config.configFile, key: '(model)', message: `running the sample failed: ${errorText(err)}`, severity: 'error' });
        }
      }
      await session.release();
    }
    problems.push(...modelProblems);
  }
  for (const dir of folders) {
    const locations = versionLocations(dir);
    problems.push(...versionPolicyProblems(dir, locations, locations.map((l) => l.version)).map(fromConfig));
    problems.push(...[...unreadSharedKeys(dir, locations), ...unreadVersionKeys(dir, locations), ...versionLookalikes(dir), ...flatFilesBesideVersions(dir)].map((p) => ({ ...fromConfig(p), severity: 'warning' as const })));
  }
  // Also of folders whose numbered entries are all links to nothing (no model folders: not among `folders`).
  problems.push(...repositoryDanglingLinks(repo).map((p) => ({ ...fromConfig(p), severity: 'warning' as const })));
  problems.push(...repositoryProblems(complete).map(fromConfig), ...resolvePipelines(complete).problems.map(fromConfig));
  return { models, unreadable: unreadable.filter((name) => !models.includes(name)), problems, ok: !problems.some((p) => p.severity === 'error') };
}
