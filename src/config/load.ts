// Reads a model repository (a folder of model folders, or one model folder), validates every
// config against the schema plus cross-field rules, and reports every problem at once (file and
// key path), then returns frozen ModelConfig objects. Nothing here touches onnxruntime.
import { closeSync, existsSync, lstatSync, readdirSync, readlinkSync, readSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { ErrorObject } from 'ajv';
import { isCollection, isMap, Lexer, LineCounter, parseDocument, visit, type YAMLError } from 'yaml';
import { StartupError } from '../errors.js';
import type { FieldSpec, ModelConfig, OutputSpec, PipelineSpec, PipelineStepSpec, RoutingSpec, StepCondition, TensorSpec, ValueType, VersionPolicy } from './types.js';
import { DEFAULTS, FIELD_TYPES, MAX_MODEL_NAME_LENGTH, MAX_TIMEOUT_MS, MAX_VERSION, MODEL_CONFIG_SCHEMA, modelNameFrom, NAME_PATTERN } from './schema.js';
import { didYouMean } from '../closest-name.js';
import { configSchemaValidator } from './schema-validator.js';
import { resolveScaleFiles } from './scale-file.js';
import { notUtf8Reason, openRegularFile, permissionDenied, readUserFile, stripBom, UserFileError, unreadableReason } from '../user-file.js';
import { allowedNumber, boundsOf } from '../validation/request-validator.js';
import { sharedTopicProblem } from '../mqtt/topics.js';
import { urlForMessages } from '../outbound-http.js';

export const CONFIG_FILE_NAMES = ['model.yaml', 'model.yml', 'model.json'];

/** A model named after its folder (no name: in its config): the folder's name, lower-cased. */
function folderModelName(where: VersionLocation): string {
  return (where.modelDir.split(/[\\/]/).pop() ?? 'model').toLowerCase();
}

/** Why a folder's name cannot be its model's name, or undefined. */
function folderNameProblem(name: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) return `the folder name '${name}' is not a valid model name`;
  if (name.length > MAX_MODEL_NAME_LENGTH) return `the folder name '${name.slice(0, 40)}…' is ${name.length} characters long, past the ${MAX_MODEL_NAME_LENGTH} a model name may have (no URL could address it)`;
  if (RESERVED_MODEL_NAMES.has(name)) return `the folder name '${name}' ${reservedBecause}`;
  return undefined;
}

/** Names no model may take: GET /v2/models/stats is every model's statistics (Triton's route), so a model 'stats' had no metadata URL. */
const RESERVED_MODEL_NAMES = new Set(['stats']);
const reservedBecause = 'cannot name a model: GET /v2/models/stats is every model\'s statistics, so that model\'s metadata could not be reached';

/** The problem of a model's name wherever it comes from: the config's name: or its folder's. */
function modelNameProblem(raw: { name?: string }, name: string): string | undefined {
  if (raw.name === undefined) {
    const problem = folderNameProblem(name);
    return problem && `${problem}; set name:`;
  }
  return RESERVED_MODEL_NAMES.has(raw.name) ? `'${raw.name}' ${reservedBecause}; choose another name:` : undefined;
}

const validateSchema = configSchemaValidator();

/** Where a config problem is, for the one message the CLI prints. */
export interface Problem {
  file: string;
  path: string;
  message: string;
  /**
   * The message as API clients read it, when it differs (formatProblems): without the text of a file it quotes, and
   * naming files as fileForClients() does — given the model repository's root when it names one.
   */
  forClients?: ForClients;
}

/** A problem's message as API clients read it: as it is, or made from the model repository's root (fileForClients). */
export type ForClients = string | ((repo: string) => string);

/** Reports a config problem at a key (`forClients`: see Problem). */
export type ProblemAt = (path: string, message: string, forClients?: ForClients) => void;

function problemAt(file: string, path: string, message: string, forClients: ForClients | undefined): Problem {
  return forClients === undefined ? { file, path, message } : { file, path, message, forClients };
}

export function findConfigFile(dir: string): string | undefined {
  for (const name of CONFIG_FILE_NAMES) {
    const file = join(dir, name);
    if (entryExists(file) && !(name === 'model.json' && isXgboostJson(file))) return file;
  }
  return undefined;
}

/**
 * A problem when another config file sits beside the one read: only the first of
 * CONFIG_FILE_NAMES was read, so edits to the other did nothing, without a word.
 */
export function configBesideProblem(file: string, raw: unknown): Problem | undefined {
  const dir = dirname(file);
  // A model.json the config names as its model file is that model (an XGBoost one, say), not a config.
  const model = raw !== null && typeof raw === 'object' && typeof (raw as { model?: unknown }).model === 'string' ? resolve(dir, (raw as { model: string }).model) : undefined;
  const others = CONFIG_FILE_NAMES.map((name) => join(dir, name)).filter((f) => f !== file && resolve(f) !== model && entryExists(f) && !(f.endsWith('model.json') && isXgboostJson(f)));
  if (others.length === 0) return undefined;
  return { file, path: '(file)', message: `${others.map((f) => basename(f)).join(' and ')} ${others.length === 1 ? 'is' : 'are'} beside it: a folder holds one config file (${basename(file)} is read first); remove the other${others.length === 1 ? '' : 's'}` };
}

/** Why a symlink leads nowhere: a loop, or the path it names does not exist. */
export function danglingReason(path: string): string {
  try {
    statSync(path);
    return 'it cannot be followed';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ELOOP' ? 'a loop of links' : `it points to ${readlinkSync(path)}, which does not exist`;
  }
}

/** Folder listings shared by one walk of the repository (withListings); undefined outside one. */
let listings: Map<string, string[] | Error> | undefined;
/** Whether each path looked at is a folder, within the same walk. */
let directories: Map<string, boolean> | undefined;

/**
 * Runs a synchronous walk of the repository in which each folder is listed (and each path stat'd as a folder) once: a --watch scan (every second) asked
 * whether a model folder could be listed, was a model, had version folders, .onnx files and which files, each a listing
 * of its own (3 to 6 per model folder); serve's start-up warnings walked the repository three times.
 */
export function withListings<T>(walk: () => T): T {
  if (listings !== undefined) return walk();
  listings = new Map();
  directories = new Map();
  try {
    return walk();
  } finally {
    listings = undefined;
    directories = undefined;
  }
}

/** readdirSync(dir), once per folder within withListings (a folder that cannot be listed throws its error each time). */
export function listFolder(dir: string): string[] {
  if (listings === undefined) return readdirSync(dir);
  let listed = listings.get(dir);
  if (listed === undefined) {
    try {
      listed = readdirSync(dir);
    } catch (err) {
      listed = err as Error;
    }
    listings.set(dir, listed);
  }
  if (listed instanceof Error) throw listed;
  return [...listed]; // callers sort in place
}

/** Whether a folder has this entry, even a symlink to nothing: a config that cannot be read is a problem, not a folder without a config. */
function entryExists(path: string): boolean {
  // Within a walk, from its listing of the folder (a dangling link is listed too); lstat when the folder cannot be listed (mode --x).
  if (listings !== undefined) {
    try {
      const name = basename(path).toLowerCase();
      const entries = listFolder(dirname(path));
      if (entries.includes(basename(path))) return true;
      if (!entries.some((e) => e.toLowerCase() === name)) return false; // else a case-insensitive file system may have it: lstat
    } catch {
      /* lstat below */
    }
  }
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a file is an XGBoost JSON model, which save_model also names model.json: a model, not a
 * config. XGBoost writes its "learner" key first; only the file's start is read.
 */
export function isXgboostJson(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openRegularFile(file).fd; // a FIFO named model.json is not waited on
    const head = Buffer.alloc(256);
    const n = readSync(fd, head, 0, head.length, 0);
    // \s takes a UTF-8 byte order mark (U+FEFF) too, as an editor may write one.
    return /^\s*\{\s*"learner"\s*:/.test(head.toString('utf8', 0, n));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The model.json in `dir` when it is an XGBoost model (so the folder is a model without a config). */
function xgboostModelWithoutConfig(dir: string): string | undefined {
  const file = join(dir, 'model.json');
  return existsSync(file) && isXgboostJson(file) ? file : undefined;
}

const VERSION_FOLDER = /^[1-9][0-9]{0,8}$/;

function isDirectory(path: string): boolean {
  const known = directories?.get(path);
  if (known !== undefined) return known;
  let is: boolean;
  try {
    is = statSync(path).isDirectory();
  } catch {
    is = false; // removed while we looked
  }
  directories?.set(path, is);
  return is;
}

/**
 * A model folder's numbered entries, from one listing (--watch scans every model folder every second): its version
 * folders (Triton's layout: models/<name>/<version>/), ascending, and the numbered entries that are symbolic links
 * leading to no folder (`3 -> /gone`, a loop): not versions at all, so the model served its other versions and nothing
 * said why version 3 was missing.
 */
function numberedEntries(dir: string): { folders: Array<{ version: number; dir: string }>; danglingLinks: Problem[]; lookalikes: Problem[] } {
  let entries: string[];
  try {
    entries = listFolder(dir);
  } catch {
    return { folders: [], danglingLinks: [], lookalikes: [] };
  }
  const folders: Array<{ version: number; dir: string }> = [];
  const danglingLinks: Problem[] = [];
  const dangling: string[] = [];
  for (const e of entries.filter((e) => VERSION_FOLDER.test(e)).sort((a, b) => Number(a) - Number(b))) {
    const path = join(dir, e);
    if (isDirectory(path)) folders.push({ version: Number(e), dir: path });
    else if (isDanglingLink(path)) dangling.push(e);
  }
  // With no version folder left (every one a link to nothing), the folder is no versioned model: none of them serves.
  const others = folders.length > 0 ? "; the model's other versions are" : ', nor is any other (no numbered entry of this folder is a folder)';
  for (const e of dangling) {
    const path = join(dir, e);
    danglingLinks.push({ file: path, path: '(folder)', message: `is a symbolic link that leads to no folder (${danglingReason(path)}): version ${e} is not served${others}` });
  }
  return { folders, danglingLinks, lookalikes: lookalikesAmong(dir, entries) };
}

function isDanglingLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink() && !existsSync(path);
  } catch {
    return false; // removed while we looked
  }
}

/** The numbered version folders of a model folder (Triton's layout: models/<name>/<version>/), ascending. */
export function versionFolders(dir: string): Array<{ version: number; dir: string }> {
  return numberedEntries(dir).folders;
}

/** The numbered entries of a model folder that are symbolic links leading to no folder (see numberedEntries). */
export function danglingVersionLinks(modelDir: string): Problem[] {
  return numberedEntries(modelDir).danglingLinks;
}

/**
 * danglingVersionLinks of every model folder of a repository, and of every other folder in it: one whose numbered
 * entries are all links to nothing is no model folder (a repository that cannot be listed has none to say).
 */
export function repositoryDanglingLinks(repo: string): Problem[] {
  const root = resolve(repo);
  let dirs: string[] = [];
  try {
    dirs = modelFolders(repo);
  } catch {
    /* no model found: its folders are still looked at */
  }
  if (!dirs.includes(root)) dirs = subfoldersOf(root);
  return dirs.flatMap((dir) => danglingVersionLinks(dir));
}

/** A folder's subfolders but hidden ones, sorted ([] when it cannot be listed). */
function subfoldersOf(root: string): string[] {
  try {
    return listFolder(root).filter((entry) => !entry.startsWith('.')).map((entry) => join(root, entry)).filter((dir) => isDirectory(dir)).sort();
  } catch {
    return [];
  }
}

/** A folder name a user means as a version but that is none: 02, 0, v2, version-2, 1.0. */
const VERSION_LOOKALIKE = /^(?:v|version[-_]?)?[0-9]+(?:\.[0-9]+)*$/i;

/**
 * The subfolders of a model folder named like a version that are not version folders (`02`, `0`,
 * `v2`, `1.0`): never served, and nothing else says so — the model serves its other versions.
 */
export function versionLookalikes(modelDir: string): Problem[] {
  return numberedEntries(modelDir).lookalikes;
}

/** versionLookalikes among a model folder's entries as listed (a scan's one listing of it). */
function lookalikesAmong(modelDir: string, entries: readonly string[]): Problem[] {
  return entries.filter((e) => !VERSION_FOLDER.test(e) && VERSION_LOOKALIKE.test(e) && isDirectory(join(modelDir, e))).sort().map((e) => {
    const number = /^(?:v|version[-_]?)?0*([1-9][0-9]{0,8})$/i.exec(e)?.[1];
    const rename = number !== undefined && !entries.includes(number) ? ` (rename it to ${number})` : '';
    // 1000000000 is a whole number from 1 as the rule says: the limit is what it breaks.
    const rule = /^[1-9][0-9]{9,}$/.test(e) ? 'a whole number from 1 of at most 9 digits' : 'a whole number from 1, no leading zero, letter or dot';
    return { file: join(modelDir, e), path: '(folder)', message: `is not a version folder, so it is not served: versions are folders named 1, 2, 3, … (${rule})${rename}` };
  });
}

/**
 * The model files of the flat layout (`.onnx` files, an XGBoost model.json) in a model folder that
 * also holds numbered version folders: only those are served, and the file beside them was ignored
 * without a word (unless a config names it, `model: ../model.onnx`). One warning per model folder.
 */
export function flatFilesBesideVersions(modelDir: string): Problem[] {
  const numbered = versionFolders(modelDir);
  if (numbered.length === 0) return [];
  const files = [...onnxFiles(modelDir), ...(xgboostModelWithoutConfig(modelDir) !== undefined ? ['model.json'] : [])];
  if (files.length === 0) return []; // the usual case: no version's config read for it
  // A file some version's config names is served, not ignored.
  const named = new Set(versionLocations(modelDir).map((where) => {
    const file = findConfigFile(where.dir) ?? findConfigFile(modelDir);
    const raw = file === undefined ? undefined : readConfigFile(file, []) as RawConfig | undefined;
    const model = raw !== null && typeof raw === 'object' && typeof raw.model === 'string' ? raw.model : undefined;
    return model === undefined ? undefined : resolve(where.dir, model);
  }));
  const ignored = files.filter((f) => !named.has(resolve(modelDir, f)));
  if (ignored.length === 0) return [];
  const list = ignored.join(', ');
  const versions = numbered.map((v) => v.version).join(', ');
  return [{
    file: modelDir, path: '(folder)',
    message: `holds numbered version folders (${versions}) and, beside them, ${list} of the flat layout: the version folders are served (as the version policy selects), ${list} ${ignored.length === 1 ? 'is' : 'are'} not; move ${ignored.length === 1 ? 'it' : 'them'} into a version folder of ${ignored.length === 1 ? 'its' : 'their'} own, or remove ${ignored.length === 1 ? 'it' : 'them'}`,
  }];
}

/** flatFilesBesideVersions of every model folder of a repository (a repository that cannot be listed has none to say). */
export function mixedLayouts(repo: string): Problem[] {
  try {
    return modelFolders(repo).flatMap((dir) => flatFilesBesideVersions(dir));
  } catch {
    return [];
  }
}

/** versionLookalikes of every model folder of a repository (none when it cannot be listed). */
export function repositoryVersionLookalikes(repo: string): Problem[] {
  try {
    return modelFolders(repo).flatMap((dir) => versionLookalikes(dir));
  } catch {
    return [];
  }
}

/**
 * The .onnx files directly in a folder (sorted). Not hidden ones: the `._model.onnx` a macOS-made
 * archive leaves beside each file when extracted (its metadata, not a model) made a folder holding one model hold two.
 */
export function onnxFiles(dir: string): string[] {
  try {
    return listFolder(dir).filter((e) => e.endsWith('.onnx') && !e.startsWith('.') && !isDirectory(join(dir, e))).sort();
  } catch {
    return [];
  }
}

/** A folder that is a model: it holds a config, numbered version folders, or exactly one .onnx file (a raw model). */
export function isModelFolder(dir: string): boolean {
  return findConfigFile(dir) !== undefined || versionFolders(dir).length > 0 || onnxFiles(dir).length === 1 || xgboostModelWithoutConfig(dir) !== undefined;
}

/** A path as one word of a command to paste into a shell: quoted when it holds a space, a quote or another character the shell reads. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

/** What to do when handed a model file where a folder is expected (the commands that get there from a file). */
function fileNotFolder(path: string): string {
  const base = basename(path);
  const name = modelNameFrom(base.replace(/\.[^.]+$/, ''));
  const folder = `${name}/`;
  const model = base.endsWith('.onnx') || isXgboostJson(path);
  if (!model) return 'is a file, not a model repository: give a folder of model folders or one model folder';
  return `is a model file; a folder is expected (a model repository or one model folder). To serve it: \`modelserve init ${shellWord(path)} -o models/${name}\` writes a model folder with a config beside a copy of it (named fields, JSON API), then \`modelserve serve models\`` +
    (base.endsWith('.onnx') ? `; or put it alone in a folder (${folder}${base}) and serve that folder: its own inputs and outputs over the Open Inference Protocol` : '');
}

/** A folder without a config holding several .onnx files: meant as a model, but which file? (readVersionConfig says so). */
const severalOnnxFiles = (dir: string) => onnxFiles(dir).length > 1;

/**
 * Why this process may not list a folder ("cannot be read (permission denied) by uid 1000"), or
 * undefined when it may. A model folder mounted from a host (docker run -v, a volume) keeps the
 * host's owner and mode, which the image's user (uid 1000) often lacks: said, not taken for "no model".
 */
export function unlistableReason(dir: string): string | undefined {
  try {
    listFolder(dir);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') return undefined; // removed while we looked
    return permissionDenied('folder');
  }
}

/**
 * The model folders of a repository: the folder itself when it is a model, else its subfolders that
 * are — or that hold several .onnx files and no config, so that they are reported, not skipped.
 * Subfolders this process may not list are not models it can tell; they go to `unlistable` (with
 * why) for the caller to report, except a file system's lost+found (root's, on every ext4 volume).
 */
export function modelFolders(repo: string, unlistable: Problem[] = []): string[] {
  const root = resolve(repo);
  if (!isDirectory(root)) {
    if (existsSync(root)) throw new StartupError('MS_ERR_CONFIG_NOT_FOUND', `${repo}: ${fileNotFolder(repo)}`);
    // A symlink to nothing (or a loop) exists as a name: "not found" would send the user looking for a missing folder.
    if (entryExists(root)) throw new StartupError('MS_ERR_CONFIG_NOT_FOUND', `${repo}: model repository is a symbolic link that leads to no folder (${danglingReason(root)})`);
    throw new StartupError('MS_ERR_CONFIG_NOT_FOUND', `${repo}: model repository not found (expected a folder)`);
  }
  const rootReason = unlistableReason(root);
  if (rootReason !== undefined) throw new StartupError('MS_ERR_CONFIG_NOT_FOUND', `${repo}: model repository ${rootReason}`);
  if (isModelFolder(root)) return [root];
  const subfolders = listFolder(root)
    .filter((entry) => !entry.startsWith('.'))
    .map((entry) => join(root, entry))
    .filter((dir) => isDirectory(dir))
    .sort();
  const unlisted: Problem[] = [];
  for (const dir of subfolders) {
    const reason = basename(dir) === 'lost+found' ? undefined : unlistableReason(dir);
    if (reason !== undefined) unlisted.push({ file: join(repo, basename(dir)), path: '(folder)', message: reason });
  }
  unlistable.push(...unlisted);
  const dirs = subfolders.filter((dir) => isModelFolder(dir) || severalOnnxFiles(dir));
  if (dirs.length === 0) {
    if (severalOnnxFiles(root)) return [root];
    // A folder whose version folders are all links to nothing is no model folder: why is said here.
    const dangling = subfolders.flatMap((dir) => danglingVersionLinks(dir)).map((p) => ({ ...p, file: join(repo, relative(root, p.file)) }));
    const why = [...unlisted, ...dangling].map((p) => `; ${p.file} ${p.message}`).join('');
    throw new StartupError(
      'MS_ERR_CONFIG_NOT_FOUND',
      `${repo}: no model found: expected ${CONFIG_FILE_NAMES.join(' / ')} (or a single .onnx file) in this folder or in its subfolders${why}`,
    );
  }
  return dirs;
}

/** The keys of a JSON pointer as ajv writes its paths ('/fields/a~1b' or '#/properties/x'), unescaped. */
function pointerSteps(pointer: string): string[] {
  return pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** What `steps` lead to from `root`, or undefined where a step finds no object. */
function valueAtSteps(root: unknown, steps: readonly string[]): unknown {
  return steps.reduce<unknown>((node, step) => (node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[step] : undefined), root);
}

function keyPath(error: ErrorObject): string {
  const parts = pointerSteps(error.instancePath);
  if (error.keyword === 'additionalProperties') parts.push(String(error.params.additionalProperty));
  if (error.keyword === 'required') parts.push(String(error.params.missingProperty));
  return parts.length ? parts.join('.') : '(root)';
}

function schemaMessage(error: ErrorObject, raw: unknown): string {
  switch (error.keyword) {
    case 'type': {
      const value = valueAtSteps(raw, pointerSteps(error.instancePath));
      if (error.instancePath === '' && value == null) return 'the file is empty (or only comments): a model config is a map (model:, fields:, inputs:, outputs:)';
      // A file that is one value (a line of text, a number, control characters): "must be object" alone shows no config.
      if (error.instancePath === '') return `must be object: it is ${rootValue(value)}; ${CONFIG_SHAPE}`;
      return `${error.message ?? 'is invalid'}${givenInstead(String(error.params.type), value)}`;
    }
    case 'additionalProperties': return `unknown key${didYouMean(String(error.params.additionalProperty), keysBeside(error.schemaPath))}`;
    case 'required': return 'is required';
    case 'maximum': return `${error.message ?? 'is too large'}${MAXIMUM_WHY.get(Number(error.params.limit)) ?? ''}`;
    case 'enum': return `must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`;
    case 'not': return error.instancePath.includes('/outputs/') ? 'give either map or column, not both' : 'must not be 0';
    case 'propertyNames': {
      const name = String(error.params.propertyName);
      if (name === '__proto__') return `'__proto__' is a reserved name (every JavaScript object's prototype); rename it`;
      return `'${name}' is not a valid field name: use an identifier ([A-Za-z_][A-Za-z0-9_]*)`;
    }
    case 'pattern': return error.params.pattern === NAME_PATTERN ? 'must be a field name: an identifier ([A-Za-z_][A-Za-z0-9_]*), not __proto__' : error.message ?? 'is invalid';
    default: return error.message ?? 'is invalid';
  }
}

/** Why a bound is what it is, where the number alone does not say. */
const MAXIMUM_WHY = new Map([
  [MAX_VERSION, ': a version folder is named with at most 9 digits'],
  [MAX_TIMEOUT_MS, ' (about 24.8 days): the longest a Node timer waits, past which it fires at once'],
]);

const CONFIG_SHAPE = 'a model config is a map of keys such as `model: model.onnx`, fields:, inputs: and outputs: (README: Serve your own model; `modelserve init model.onnx` writes one)';

/** A config file's whole value when it is not a map, in words: a list, a number, the text it holds. */
function rootValue(value: unknown): string {
  if (Array.isArray(value)) return 'a list (- items)';
  if (typeof value !== 'string') return `the ${typeof value} ${String(value)}`;
  const line = value.trim().split('\n', 1)[0]!;
  // Control characters quoted would be invisible, or garble the terminal.
  if ([...line].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f) || line === '') return 'text of control characters, not YAML';
  return `the text '${line.length > 40 ? `${line.slice(0, 40)}…` : line}'`;
}

/** The keys the schema allows beside an unknown one: the `properties` of the schema its error came from. */
function keysBeside(schemaPath: string): string[] {
  // '#/properties/outputs/additionalProperties/…/additionalProperties': the object schema is the path without its last step.
  const schema = valueAtSteps(MODEL_CONFIG_SCHEMA, pointerSteps(schemaPath).slice(0, -1));
  const properties = (schema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return properties ? Object.keys(properties) : [];
}

/** What a hand-written value of the wrong type is, where its fix is not obvious from "must be object". */
function givenInstead(expected: string, value: unknown): string {
  if (value === null) return ' (it is empty: give its value, or indent the lines under it)';
  if (expected === 'object' && Array.isArray(value)) return ', a map (name: value lines), not a list (- items)';
  if (typeof value !== 'string') return '';
  // YAML 1.2 reads yes/no/on/off, and anything quoted, as strings.
  if (expected === 'boolean' && /^(yes|no|on|off|y|n|true|false)$/i.test(value)) return `: write true or false (unquoted), not '${value}'`;
  if ((expected === 'number' || expected === 'integer') && value.trim() !== '' && Number.isFinite(Number(value))) return `: write ${value.trim()} without quotes`;
  return '';
}

let configFilesRead = 0;

/** How many config files were read and parsed so far: a --watch scan that finds nothing changed reads none. */
export const configFileReadCount = (): number => configFilesRead;

export function readConfigFile(file: string, problems: Problem[]): unknown {
  configFilesRead++;
  let text: string;
  try {
    const bytes = readUserFile(file, 'config');
    // Other encodings (Latin-1, UTF-16) would be read with U+FFFD in place of their characters.
    const notUtf8 = notUtf8Reason(bytes);
    if (notUtf8 !== undefined) {
      problems.push({ file, path: '(file)', message: notUtf8 });
      return undefined;
    }
    text = bytes.toString('utf8');
  } catch (err) {
    if (err instanceof UserFileError) {
      problems.push({ file, path: '(file)', message: err.reason });
      return undefined;
    }
    problems.push({ file, path: '(file)', message: unreadableReason(err) });
    return undefined;
  }
  // The first line of a message names the problem and its line and column (the code frame that follows it is dropped, and with it the colon that announced it).
  const firstLine = (message: string) => message.split('\n')[0]!.replace(/:$/, '');
  // Before either parser: JSON files go through YAML's too (for their duplicate keys).
  const nestedPast = nestingPast(text);
  if (nestedPast !== undefined) {
    problems.push({ file, path: '(file)', message: `not valid for a config: ${NESTING_SAID} (at ${nestedPast}); ${NESTING_HINT}` });
    return undefined;
  }
  if (file.endsWith('.json')) {
    let parsed: unknown;
    try {
      // A byte order mark (Windows editors write one) is read past, as YAML's parser does: JSON.parse refused it, naming an invisible token.
      parsed = JSON.parse(stripBom(text));
    } catch (err) {
      problems.push({ file, path: '(file)', message: `not valid JSON: ${jsonErrorMessage((err as Error).message, stripBom(text))}` });
      return undefined;
    }
    // JSON.parse keeps the last of two equal keys and drops the first without a word (a second
    // "fields" would silently replace the first); YAML configs already refuse them. JSON is YAML,
    // so its parser finds them, with their line.
    const duplicates = parseDocument(text, { prettyErrors: true, lineCounter: new LineCounter() }).errors.filter((e) => e.code === 'DUPLICATE_KEY');
    for (const e of duplicates) problems.push({ file, path: '(file)', message: `not valid: a key appears twice in one object${e.linePos ? ` (the second at line ${e.linePos[0].line}, column ${e.linePos[0].col})` : ''}; JSON would keep only the last` });
    return duplicates.length > 0 ? undefined : withinNesting(file, parsed, problems);
  }
  // Merge keys (<<: *defaults) as YAML 1.1 tools write them. A warning (an unknown tag such as
  // !!js/function, read as a plain string) is a problem too, not a line of Node's on stderr.
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, merge: true, lineCounter });
  // One typo (an unclosed [ or ") makes the parser report a string of errors after it; the first
  // in the file is the one to fix. Warnings (each an unknown tag) are separate, all reported.
  const firstError = doc.errors.reduce<YAMLError | undefined>((first, e) => (first === undefined || e.pos[0] < first.pos[0] ? e : first), undefined);
  const found = firstError ? [firstError] : doc.warnings;
  // The parser may notice an unclosed [ or { only lines later, after errors that do not say so.
  const unclosedBy = (e: YAMLError) => /end with a ([\]}])/.exec(e.message)?.[1];
  const unclosed = firstError && !unclosedBy(firstError) ? doc.errors.map(unclosedBy).find((close) => close !== undefined) : undefined;
  const unclosedHint = unclosed === undefined ? '' : `; a ${unclosed === ']' ? '[' : '{'} is not closed by ${unclosed}`;
  for (const e of found) {
    // Nesting the scan before the parse did not count (it counts [ { and indentation apart): the parser's recursion ran out of stack there.
    if (/Maximum call stack size exceeded/.test(e.message)) {
      problems.push({ file, path: '(file)', message: `not valid for a config: ${NESTING_SAID}${e.linePos ? ` (at line ${e.linePos[0].line})` : ''}; ${NESTING_HINT}` });
      continue;
    }
    const message = e.code === 'MULTIPLE_DOCS' ? `holds several YAML documents (separated by ---); a model config is one${e.linePos ? ` (the second starts at line ${e.linePos[0].line})` : ''}` : `${firstLine(e.message)}${unclosedHint}`;
    problems.push({ file, path: '(file)', message: `not valid YAML: ${message}` });
  }
  if (found.length > 0) return undefined;
  const collectionKey = collectionKeyAt(doc, lineCounter);
  if (collectionKey !== undefined) {
    problems.push({ file, path: '(file)', message: `not valid YAML for a config: ${collectionKey}` });
    return undefined;
  }
  const unresolved = aliasProblem(doc, lineCounter);
  if (unresolved !== undefined) {
    problems.push({ file, path: '(file)', message: `not valid YAML: ${unresolved}` });
    return undefined;
  }
  try {
    return withinNesting(file, doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS }), problems);
  } catch {
    // The one error left is the library's guard against an alias bomb (billion laughs).
    problems.push({ file, path: '(file)', message: `not valid YAML: its aliases (*name) expand past the limit of ${MAX_ALIAS_EXPANSIONS} (aliases nested in aliases, as in a "billion laughs" file); write the values out` });
    return undefined;
  }
}

/**
 * How deep maps and lists may nest in a config: the deepest a config needs is under ten levels. The
 * yaml library reads nesting by recursion and runs out of stack a few hundred levels down (said in
 * JavaScript's words, after seconds), and the checks after it recurse too.
 */
const MAX_NESTING = 64;
const NESTING_SAID = `its maps and lists nest more than ${MAX_NESTING} levels deep`;
const NESTING_HINT = 'a model config needs a few levels (fields: name: type:)';

/**
 * Where the maps and lists of `text` (YAML or JSON) first nest past MAX_NESTING, as "line L, column C",
 * read from the lexer's tokens before the parser recurses into them: [ and { by their count, and
 * block maps and lists by their indentation — each line's first token, and the node after a - or ?
 * on its line (`- - - 1`), opens a level where it stands right of the open ones. Quoted text, block
 * scalars (| >), plain scalars over several lines and comments are single tokens of the lexer's,
 * so their indented lines are not counted. A value on its own line below its key takes a level the
 * parsed config does not have, so block levels are refused only past MAX_NESTING + 2 (the
 * document's own map is one level, and withinNesting allows MAX_NESTING below it): nothing this
 * refuses would have loaded.
 */
function nestingPast(text: string): string | undefined {
  let flow = 0;
  let offset = 0;
  let lineStart = 0;
  let atLineStart = true;
  let afterItem = false;
  const indents: number[] = [];
  const at = (position: number) => {
    const before = text.slice(0, position);
    return `line ${before.split('\n').length}, column ${position - before.lastIndexOf('\n')}`;
  };
  for (const token of new Lexer().lex(text)) {
    // The lexer's markers (a document's or a scalar's start, \x02 \x1f \x18) take no room in the text.
    if (token.length === 1 && token < ' ' && token !== '\n' && token !== '\t' && token !== '\r') continue;
    if (token === '\n' || token === '\r\n') {
      atLineStart = true;
      afterItem = false;
    } else if (token[0] !== ' ' && token[0] !== '\t' && token[0] !== '#' && token !== '\u{FEFF}' && flow === 0 && (atLineStart || afterItem)) {
      const column = offset - lineStart;
      if (atLineStart) while (indents.length > 0 && indents[indents.length - 1]! > column) indents.pop();
      if (indents.length === 0 || indents[indents.length - 1]! < column) {
        indents.push(column);
        if (indents.length > MAX_NESTING + 2) return at(offset);
      }
      atLineStart = false;
      afterItem = token === '-' || token === '?';
    }
    if (token === '[' || token === '{') {
      if (++flow > MAX_NESTING) return at(offset);
    } else if (token === ']' || token === '}') flow--;
    offset += token.length;
    const newline = token.lastIndexOf('\n');
    if (newline >= 0) lineStart = offset - token.length + newline + 1;
  }
  return undefined;
}

/**
 * The parsed config, or undefined with a problem when it nests past MAX_NESTING: aliases nest what the
 * file's own brackets do not (an anchor holding an alias of an anchor…). Walked without recursion.
 */
function withinNesting(file: string, value: unknown, problems: Problem[]): unknown {
  const stack: Array<[unknown, string[]]> = [[value, []]];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (path.length > MAX_NESTING) {
      problems.push({ file, path: path[0]!, message: `${NESTING_SAID} (at ${path.slice(0, 4).join('.')}…); ${NESTING_HINT}` });
      return undefined;
    }
    for (const [key, child] of Object.entries(node)) stack.push([child, [...path, key]]);
  }
  return value;
}

/**
 * JSON.parse's message with a line and column where it gives an offset ("… in JSON at position
 * 913" says little in a 60-line file), and without the copy of the text it may quote ("Unexpected
 * token 'x', …"{ … }" is not valid JSON").
 */
function jsonErrorMessage(message: string, text: string): string {
  const at = /^(.*) in JSON at position (\d+)/s.exec(message);
  if (at) {
    const before = text.slice(0, Number(at[2]));
    const line = before.split('\n').length;
    return `${at[1]} at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
  }
  return /^(Unexpected token '.*?'), .* is not valid JSON$/s.exec(message)?.[1] ?? message.split('\n')[0]!;
}

/**
 * Aliases expanded while reading a config, weighted by the aliases inside what they copy (the yaml
 * library's measure): room for a thousand fields sharing one &anchor, while nested aliases (a
 * billion-laughs file) pass it after a few levels, before anything large is built.
 */
const MAX_ALIAS_EXPANSIONS = 1000;

/**
 * A key that is a map or a list (`? {a: 1}` or `[a, b]: 1`), as a message with its line and column: JavaScript
 * keys are text, and the yaml library turned it into one with a warning of Node's on stderr.
 */
function collectionKeyAt(doc: ReturnType<typeof parseDocument>, lines: LineCounter): string | undefined {
  let message: string | undefined;
  visit(doc, {
    Pair(_, pair) {
      if (!isCollection(pair.key)) return undefined;
      const at = pair.key.range ? lines.linePos(pair.key.range[0]) : undefined;
      message = `a key is a ${isMap(pair.key) ? 'map' : 'list'}${at ? ` at line ${at.line}, column ${at.col}` : ''}; keys are names`;
      return visit.BREAK;
    },
  });
  return message;
}

/** An alias (*name) with no anchor (&name) before it, or inside the value its anchor names, as a message with its line and column: the yaml library throws at the one, builds an endless value of the other. */
function aliasProblem(doc: ReturnType<typeof parseDocument>, lines: LineCounter): string | undefined {
  let message: string | undefined;
  visit(doc, {
    Alias(_, alias) {
      const target = alias.resolve(doc);
      const at = alias.range ? lines.linePos(alias.range[0]) : undefined;
      const where = at ? ` at line ${at.line}, column ${at.col}` : '';
      // `&a [*a]`: the library builds a value that holds itself, which no check could walk to its end.
      if (target?.range && alias.range && alias.range[0] >= target.range[0] && alias.range[0] < target.range[2]) {
        message = `the alias *${alias.source}${where} is inside the value its anchor &${alias.source} names, which would hold itself without end`;
        return visit.BREAK;
      }
      if (target !== undefined) return undefined;
      message = `the alias *${alias.source} has no anchor &${alias.source} before it${where}`;
      return visit.BREAK;
    },
  });
  return message;
}

type Scalar = number | string | boolean;

function scalarMatches(type: FieldSpec['type'], value: Scalar): boolean {
  switch (type) {
    case 'number': return typeof value === 'number' && Number.isFinite(value);
    case 'integer': return typeof value === 'number' && Number.isInteger(value);
    case 'string': return typeof value === 'string';
    case 'boolean': return typeof value === 'boolean';
  }
}

interface RawField { type: FieldSpec['type']; required?: boolean; default?: Scalar; minimum?: number; maximum?: number; enum?: Scalar[]; description?: string; example?: Scalar }
interface RawTensor { fields: string[]; type?: TensorSpec['type']; scale?: { mean: number[]; scale: number[] } }
interface RawOutput { from: string; map?: Record<string, string>; column?: number }
export interface RawConfig {
  name?: string; version?: string | number; description?: string; model?: string; format?: 'onnx' | 'xgboost'; default?: boolean; strict?: boolean; lax?: boolean; optimize?: boolean;
  root_response?: Record<string, unknown>;
  mqtt?: { request_topic?: string; predictions_topic?: string; errors_topic?: string };
  fields: Record<string, RawField>; inputs: Record<string, RawTensor>; outputs: Record<string, RawOutput>;
  version_policy?: { latest?: number; all?: true; specific?: number[] };
  pipeline?: RawPipeline;
  traffic?: Record<string, number>;
  sticky?: { header?: string; field?: string };
  shadow?: { model?: string; version?: number; percent?: number; timeout_ms?: number; max_in_flight?: number; sample_disagreements?: number };
  batching?: { enabled?: boolean; max_batch_size?: number; max_queue_delay_ms?: number };
  queue?: { max_rows?: number; timeout_ms?: number };
}

interface RawRemote {
  url: string; protocol?: 'modelserve' | 'json' | 'oip'; model?: string; timeout_ms?: number; retries?: number; idempotent?: boolean; max_in_flight?: number;
  fields: Record<string, RawField>; outputs: Record<string, ValueType>;
}
interface RawStep {
  name?: string; model?: string; version?: number; remote?: RawRemote; inputs?: Record<string, string>; weight?: number;
  when?: { field: string; equals?: Scalar; in?: Scalar[]; range?: { gt?: number; gte?: number; lt?: number; lte?: number } }; default?: true;
}
interface RawPipeline {
  sequence?: RawStep[]; ensemble?: RawStep[]; switch?: RawStep[];
  outputs?: string[] | Record<string, string>;
  combine?: Record<string, { mean?: string; weighted_mean?: string; vote?: string }>;
}

export const REMOTE_DEFAULTS = { timeoutMs: 5000, retries: 1, maxInFlight: 64 } as const;

function fieldSpecs(raw: Record<string, RawField>, prefix: string, at: (path: string, message: string) => void): FieldSpec[] {
  return Object.entries(raw).map(([name, f]) => {
    checkField(name, f, (path, message) => at(`${prefix}${path}`, message));
    return { name, type: f.type, required: f.required ?? true, default: f.default, minimum: f.minimum, maximum: f.maximum, enum: f.enum, description: f.description, example: f.example };
  });
}

/** A pipeline's own rules (what needs no other model's config); the cross-model ones are in src/pipelines/check.ts. */
function buildPipeline(raw: RawPipeline, at: (path: string, message: string) => void): PipelineSpec | undefined {
  const kinds = (['sequence', 'ensemble', 'switch'] as const).filter((k) => raw[k] !== undefined);
  if (kinds.length === 0) {
    at('pipeline', 'needs one of sequence, ensemble or switch');
    return undefined;
  }
  // With more than one, the first one's steps are still checked (every problem at once).
  if (kinds.length > 1) at('pipeline', `give one of sequence, ensemble or switch, not ${kinds.join(' and ')}`);
  const kind = kinds[0]!;
  const names = new Set<string>();
  const steps: PipelineStepSpec[] = raw[kind]!.map((s, i) => {
    const path = `pipeline.${kind}.${i}`;
    if ((s.model === undefined) === (s.remote === undefined)) at(path, 'a step names either a model (model:) or a remote service (remote:)');
    if (s.version !== undefined && s.model === undefined) at(`${path}.version`, 'applies to a model step only');
    const name = s.name ?? s.model ?? `step${i}`;
    if (names.has(name)) at(`${path}.name`, `step name '${name}' is used twice; give the steps distinct names`);
    names.add(name);
    if (kind === 'switch' && (s.when === undefined) === (s.default === undefined)) at(path, 'a switch branch has either a condition (when:) or default: true');
    if (kind !== 'switch' && (s.when !== undefined || s.default !== undefined)) at(`${path}.${s.when !== undefined ? 'when' : 'default'}`, 'applies to switch branches only');
    if (kind !== 'ensemble' && s.weight !== undefined) at(`${path}.weight`, 'applies to ensemble members only');
    const r = s.remote;
    let remote: PipelineStepSpec['remote'];
    if (r) {
      const protocol = r.protocol ?? 'modelserve';
      if (protocol !== 'json' && r.model === undefined) at(`${path}.remote.model`, `is required for protocol ${protocol} (the remote model's name)`);
      // The schema checks the scheme only: a URL the step could not call ("http://a b", "http://[x") is this file's problem, not a crash at start.
      // Named without a user:password@ or query, as the step's errors name it: this message goes to logs and to `check`'s output.
      if (!URL.canParse(r.url)) at(`${path}.remote.url`, `'${urlForMessages(r.url)}' is not a valid URL`);
      // modelserve and oip append the model's path to the url: a query (or #) in it would take that path in (http://h/?k=1/models/m/predict).
      else if (protocol !== 'json' && /[?#]/.test(r.url)) {
        at(`${path}.remote.url`, `step '${name}': has a ${r.url.includes('?') ? 'query (?…)' : 'fragment (#)'}, but protocol ${protocol} appends ${protocol === 'oip' ? '/v2/models/{model}/infer' : '/models/{model}/predict'} to the url; give the url without it${protocol === 'modelserve' ? ' (or protocol json with the whole endpoint URL, query included)' : ''}`);
      }
      remote = {
        protocol, url: r.url.replace(/\/+$/, ''), model: r.model,
        timeoutMs: r.timeout_ms ?? REMOTE_DEFAULTS.timeoutMs, retries: r.retries ?? REMOTE_DEFAULTS.retries, idempotent: r.idempotent ?? true, maxInFlight: r.max_in_flight ?? REMOTE_DEFAULTS.maxInFlight,
        fields: fieldSpecs(r.fields, `${path}.remote.fields.`, at),
        outputs: Object.entries(r.outputs).map(([field, type]) => ({ field, type })),
      };
    }
    let when: StepCondition | undefined;
    if (s.when) {
      const w = s.when;
      if (w.equals !== undefined) when = { field: w.field, equals: w.equals };
      else if (w.in !== undefined) when = { field: w.field, in: [...w.in] };
      else if (w.range !== undefined) {
        when = { field: w.field, range: { ...w.range } };
        if ((w.range.gt !== undefined && w.range.gte !== undefined) || (w.range.lt !== undefined && w.range.lte !== undefined)) at(`${path}.when.range`, 'give at most one lower bound (gt/gte) and one upper bound (lt/lte)');
      } else at(`${path}.when`, 'needs equals, in or range');
    }
    return {
      name, path, model: s.model === undefined ? undefined : { name: s.model, version: s.version }, remote,
      inputs: { ...(s.inputs ?? {}) }, weight: s.weight ?? 1, when, isDefault: s.default === true,
    };
  });
  if (kind === 'switch' && steps.filter((s) => s.isDefault).length > 1) at('pipeline.switch', 'has more than one default branch');
  if (kind === 'ensemble' && raw.combine === undefined) at('pipeline.combine', 'an ensemble needs combine: (output field -> mean / weighted_mean / vote of a field)');
  if (kind !== 'ensemble' && raw.combine !== undefined) at('pipeline.combine', 'applies to an ensemble only');
  if (kind === 'ensemble' && raw.outputs !== undefined) at('pipeline.outputs', 'an ensemble answers its combine: fields; use combine to name them');
  const outputs = raw.outputs === undefined ? undefined : Array.isArray(raw.outputs) ? Object.fromEntries(raw.outputs.map((f) => [f, f])) : { ...raw.outputs };
  const combine = raw.combine === undefined ? undefined : Object.fromEntries(Object.entries(raw.combine).map(([out, c]) => {
    const method = (Object.keys(c)[0] ?? 'mean') as 'mean' | 'weighted_mean' | 'vote';
    return [out, { method, from: c[method]! }];
  }));
  return { kind, steps, outputs, combine };
}

/** The routing keys of `raw` (read from `file`), checked against the model's version policy (`policy`, read where the model's is: `policyFile` when another file). */
function routingOf(raw: RawConfig, file: string, policy: RawConfig['version_policy'], at: ProblemAt, policyFile?: string): RoutingSpec | undefined {
  if (raw.traffic === undefined && raw.shadow === undefined && raw.sticky === undefined) return undefined;
  const routing: RoutingSpec = { file };
  if (raw.traffic) {
    routing.traffic = Object.entries(raw.traffic).map(([v, percent]) => ({ version: Number(v), percent })).sort((a, b) => a.version - b.version);
    const total = routing.traffic.reduce((sum, t) => sum + t.percent, 0);
    if (Math.abs(total - 100) > 1e-9) at('traffic', `the percentages add up to ${total}, not 100`);
    // Another version's file is named for the operator from the working directory, for API clients from the repository.
    const policyAt = (name: (file: string) => string) => policyFile === undefined ? 'version_policy' : `the model's version_policy (${name(policyFile)})`;
    const atPolicy = (path: string, said: (policyAt: string) => string) => at(path, said(policyAt(forOperator)), policyFile === undefined ? undefined : (repo) => said(policyAt((f) => fileForClients(f, repo))));
    if (policy === undefined) atPolicy('traffic', (named) => policyFile === undefined ? 'a split needs its versions served: add version_policy (e.g. all: true or specific: [...])' : `a split needs its versions served, but ${named} has none`);
    else {
      const served = policyOf(policy);
      if ('latest' in served && served.latest < routing.traffic.length) atPolicy('traffic', (named) => `splits between ${routing.traffic!.length} versions but ${named} serves the latest ${served.latest}`);
      if ('specific' in served) for (const t of routing.traffic) if (!served.specific.includes(t.version)) atPolicy(`traffic.${t.version}`, (named) => `version ${t.version} is not in ${policyFile === undefined ? 'version_policy.specific' : `${named}'s specific`}`);
    }
  }
  if (raw.sticky) {
    if (raw.traffic === undefined) at('sticky', 'applies to a traffic split (traffic:)');
    routing.sticky = raw.sticky.header !== undefined ? { header: raw.sticky.header.toLowerCase() } : { field: raw.sticky.field! };
  }
  if (raw.shadow) {
    const sh = raw.shadow;
    if (sh.model === undefined && sh.version === undefined) at('shadow', 'names the model (model:) and/or the version (version:) that gets the copies');
    routing.shadow = { model: sh.model, version: sh.version, percent: sh.percent ?? 100, timeoutMs: sh.timeout_ms ?? 2000, maxInFlight: sh.max_in_flight ?? 64, sampleDisagreements: sh.sample_disagreements ?? 0.01 };
  }
  return routing;
}

function checkField(name: string, f: RawField, at: (path: string, message: string) => void, missingAllowed = false): void {
  const required = f.required ?? true;
  // An XGBoost model takes a missing value (NaN: each split's default direction), so there an absent field needs no default.
  if (!required && f.default === undefined && !missingAllowed) at(`fields.${name}.default`, 'a field with required: false needs a default (the value fed to the model when it is absent)');
  // A type the schema refused ('float') says nothing about the values: no "must be of type float" after it.
  if (!(FIELD_TYPES as readonly string[]).includes(f.type)) return;
  for (const key of ['default', 'example'] as const) {
    const value = f[key];
    if (value !== undefined && !scalarMatches(f.type, value)) at(`fields.${name}.${key}`, `must be of type ${f.type}`);
  }
  if (f.enum) f.enum.forEach((v, i) => { if (!scalarMatches(f.type, v)) at(`fields.${name}.enum.${i}`, `must be of type ${f.type}`); });
  if ((f.minimum !== undefined || f.maximum !== undefined) && f.type !== 'number' && f.type !== 'integer') {
    at(`fields.${name}`, 'minimum/maximum apply only to number and integer fields');
  }
  if (f.minimum !== undefined && f.maximum !== undefined && f.minimum > f.maximum) at(`fields.${name}.minimum`, 'must not be greater than maximum');
  // A default the request validator refuses made every request that left the field out a 422
  // naming a field the client never sent: the default meets the same checks as a value sent.
  const { minimum, maximum } = boundsOf(f);
  // A bound the schema refused ('1e3' quoted) bounds nothing: no "is outside" after its own problem.
  const boundsAreNumbers = [f.minimum, f.maximum].every((bound) => bound === undefined || typeof bound === 'number');
  const outside = (value: number) => boundsAreNumbers && ((minimum !== undefined && value < minimum) || (maximum !== undefined && value > maximum));
  const limit = `what ${f.type === 'integer' ? 'an integer field carries exactly (±2^53)' : 'a float32 holds (±3.4e38)'}`;
  const range = f.minimum !== undefined || f.maximum !== undefined ? 'minimum/maximum' : limit;
  // Bounds no value meets (an integer between 0.5 and 0.7, a minimum past what a float32 holds) refused
  // every request sending the field, and the load refused the example row built from them.
  const crossed = f.minimum !== undefined && f.maximum !== undefined && f.minimum > f.maximum;
  // (A bound that is not finite is a problem of its own.)
  const finite = [f.minimum, f.maximum].every((bound) => bound === undefined || Number.isFinite(bound));
  if ((f.type === 'number' || f.type === 'integer') && boundsAreNumbers && finite && !crossed && allowedNumber(f) === undefined) {
    const bound = (key: 'minimum' | 'maximum', value: number | undefined) => (f[key] !== undefined ? `${key} ${value}` : `${value} (the ${key === 'minimum' ? 'least' : 'most'} ${f.type === 'integer' ? 'an integer field carries exactly' : 'a float32 holds'})`);
    at(`fields.${name}.${f.minimum !== undefined ? 'minimum' : 'maximum'}`, `no ${f.type} lies between ${bound('minimum', minimum)} and ${bound('maximum', maximum)}: no request can send the field`);
  }
  for (const key of ['default', 'example'] as const) {
    const value = f[key];
    if (typeof value === 'number' && outside(value)) at(`fields.${name}.${key}`, `is outside ${range}`);
    if (value !== undefined && scalarMatches(f.type, value) && f.enum && !f.enum.includes(value)) at(`fields.${name}.${key}`, `is not one of enum (${f.enum.map((v) => JSON.stringify(v)).join(', ')})`);
  }
  f.enum?.forEach((v, i) => {
    if (typeof v === 'number' && outside(v)) at(`fields.${name}.enum.${i}`, `is outside ${range}: no request can send it`);
    const first = f.enum!.indexOf(v);
    if (first < i) at(`fields.${name}.enum.${i}`, `repeats enum.${first} (${JSON.stringify(v)})`);
  });
}

function policyOf(raw: RawConfig['version_policy']): VersionPolicy {
  if (raw?.all) return { all: true };
  if (raw?.specific) return { specific: [...raw.specific] };
  return { latest: raw?.latest ?? 1 };
}

/** Where a version's config and files are: its folder, and the model folder (its name, and its config if the version has none). */
export interface VersionLocation {
  /** The folder holding the version's model file. */
  dir: string;
  /** The model folder (whose name is the model's name); the same folder for a flat layout. */
  modelDir: string;
  version: number;
}

/** The keys a model has once, whatever its versions: read from one config for all of them (see modelLevelSource). */
export const MODEL_LEVEL_KEYS = ['version_policy', 'traffic', 'sticky', 'shadow'] as const;

const isModelLevelPath = (path: string) => path === '(root)' || MODEL_LEVEL_KEYS.some((key) => path === key || path.startsWith(`${key}.`));

/**
 * What is wrong with the model-level keys of a config (the schema's verdict on them, else the split's
 * own rules): read alone from a model folder's config that every version folder overrides.
 */
function modelLevelProblems(file: string, raw: unknown): Problem[] {
  const schema = schemaProblems(file, raw).filter((p) => isModelLevelPath(p.path));
  if (schema.length > 0) return schema;
  const problems: Problem[] = [];
  routingOf(raw as RawConfig, file, (raw as RawConfig).version_policy, (path, message, forClients) => problems.push(problemAt(file, path, message, forClients)));
  return problems;
}

/**
 * The model folder's own config, read for a version with a config of its own (numbered version folders):
 * the model-level keys are read from it for every version (see buildConfig). Undefined when there is none
 * or its model-level keys do not validate: its problems are reported where that file is read
 * (versionPolicyProblems, or the versions that have no config of their own).
 */
function sharedConfig(where: VersionLocation, file: string): { file: string; raw: RawConfig } | undefined {
  const shared = where.dir === where.modelDir ? undefined : findConfigFile(where.modelDir);
  if (shared === undefined || shared === file) return undefined;
  const raw = readConfigFile(shared, []);
  const usable = raw !== null && typeof raw === 'object' && !Array.isArray(raw) && !schemaProblems(shared, raw).some((p) => isModelLevelPath(p.path));
  return usable ? { file: shared, raw: raw as RawConfig } : undefined;
}

const ROUTING_KEYS = ['traffic', 'sticky', 'shadow'] as const;

/** The raw version_policy of a model folder with no config of its own: the newest version's config that parses (as versionPolicySource reads it). */
function newestVersionPolicy(modelDir: string, own: { file: string; raw: RawConfig }): { file: string; policy: RawConfig['version_policy'] } | undefined {
  if (findConfigFile(modelDir) !== undefined) return undefined;
  for (const where of versionLocations(modelDir).reverse()) {
    const file = findConfigFile(where.dir);
    if (file === own.file) return { file, policy: own.raw.version_policy }; // the newest is the version being read: not read again
    const raw = file === undefined ? undefined : readConfigFile(file, []) as RawConfig | undefined;
    if (raw && typeof raw === 'object') return { file: file!, policy: raw.version_policy };
  }
  return undefined;
}

export function buildConfig(where: VersionLocation, file: string, raw: RawConfig, at: ProblemAt): ModelConfig {
  const { dir } = where;
  // One place per model, so its versions never disagree: the version policy is the model folder's
  // config's when there is one, else the version's; the routing keys too, when that file holds any.
  const shared = sharedConfig(where, file);
  // Without a model folder's config, the model's policy is the newest version's (versionPolicySource): an older
  // version's own, which nothing reads, failed its own (unread) split, serve and check refusing keys nothing reads.
  const newest = shared === undefined && where.dir !== where.modelDir ? newestVersionPolicy(where.modelDir, { file, raw }) : undefined;
  const policy = newest !== undefined ? newest.policy : (shared?.raw ?? raw).version_policy;
  const routingFrom = shared !== undefined && ROUTING_KEYS.some((key) => shared.raw[key] !== undefined) ? shared : { file, raw };
  // The model folder's config's own problems are said where that file is read, once for the model.
  const routing = routingOf(routingFrom.raw, routingFrom.file, policy, routingFrom.file === file ? at : () => undefined, newest !== undefined && newest.file !== file ? newest.file : undefined);
  const versionPolicy = policyOf(policy);
  if (raw.pipeline !== undefined) {
    const name = raw.name ?? folderModelName(where);
    const problem = modelNameProblem(raw, name);
    if (problem) at('name', problem);
    return {
      name, version: String(raw.version ?? where.version), modelVersion: where.version, modelDir: where.modelDir, versionPolicy,
      description: raw.description ?? '', dir, configFile: file, modelFile: '', default: raw.default ?? false, strict: raw.strict ?? false, lax: raw.lax ?? true,
      // Derived from the steps when the core loads the pipeline (src/pipelines/check.ts).
      fields: [], tensors: [], outputs: [],
      batching: { ...DEFAULTS.batching },
      queue: { maxRows: raw.queue?.max_rows ?? DEFAULTS.queue.maxRows, timeoutMs: raw.queue?.timeout_ms ?? DEFAULTS.queue.timeoutMs },
      optimize: false, rootResponse: raw.root_response, pipeline: buildPipeline(raw.pipeline, at), routing,
    };
  }
  resolveScaleFiles(dir, raw.inputs, at);
  const fields: FieldSpec[] = Object.entries(raw.fields).map(([name, f]) => {
    checkField(name, f, at, raw.format === 'xgboost');
    return { name, type: f.type, required: f.required ?? true, default: f.default, minimum: f.minimum, maximum: f.maximum, enum: f.enum, description: f.description, example: f.example };
  });
  const fieldByName = new Map(fields.map((f) => [f.name, f]));
  const used = new Set<string>();
  const tensors: TensorSpec[] = Object.entries(raw.inputs).map(([name, t]) => {
    t.fields.forEach((fieldName, i) => {
      const f = fieldByName.get(fieldName);
      // With fields: not a map (the schema said so), no name is declared: that is one problem, not one per name.
      if (!f) { if (!Array.isArray(raw.fields)) at(`inputs.${name}.fields.${i}`, `'${fieldName}' is not a declared field`); }
      else if (t.fields.length > 1 && (f.type === 'string' || f.type === 'boolean') && t.type !== 'string' && t.type !== 'bool') {
        at(`inputs.${name}.fields.${i}`, `'${fieldName}' is a ${f.type} field; only numeric fields can be concatenated into one numeric tensor (for a ${f.type === 'string' ? 'string' : 'bool'} input, say so: type: ${f.type === 'string' ? 'string' : 'bool'})`);
      }
      used.add(fieldName);
    });
    if (t.scale) {
      for (const key of ['mean', 'scale'] as const) {
        if (t.scale[key].length !== t.fields.length) at(`inputs.${name}.scale.${key}`, `has ${t.scale[key].length} values but the input has ${t.fields.length} fields`);
      }
      t.fields.forEach((fieldName, i) => {
        const type = fieldByName.get(fieldName)?.type;
        if (type === 'string' || type === 'boolean') at(`inputs.${name}.fields.${i}`, `'${fieldName}' is a ${type} field and cannot be scaled`);
      });
    }
    return { name, fields: [...t.fields], type: t.type, scale: t.scale && { mean: [...t.scale.mean], scale: [...t.scale.scale] } };
  });
  for (const f of fields) if (!used.has(f.name)) at(`fields.${f.name}`, 'is not fed to any input (list it under inputs.<name>.fields)');
  const outputs: OutputSpec[] = Object.entries(raw.outputs).map(([field, o]) => {
    if (o.map) return { field, from: o.from, kind: 'label', map: { ...o.map } };
    if (o.column !== undefined) return { field, from: o.from, kind: 'column', column: o.column };
    return { field, from: o.from, kind: 'raw' };
  });
  const modelFile = resolve(dir, raw.model ?? (raw.format === 'xgboost' ? 'model.json' : DEFAULTS.model));
  if (!existsSync(modelFile)) {
    // A link to nothing or a loop of links is there, just not followable: "not found" sent the user looking for a missing file.
    const said = (shown: string) => entryExists(modelFile) ? `${shown} is a symbolic link that leads to no file (${danglingReason(modelFile)})` : `${raw.format === 'xgboost' ? 'XGBoost model' : 'ONNX'} file not found: ${shown}`;
    at('model', said(modelFile), (repo) => said(fileForClients(modelFile, repo, raw.model)));
  }
  const name = raw.name ?? folderModelName(where);
  const problem = modelNameProblem(raw, name);
  if (problem) at('name', problem);
  return {
    name,
    version: String(raw.version ?? where.version),
    modelVersion: where.version,
    modelDir: where.modelDir,
    versionPolicy,
    description: raw.description ?? '',
    dir,
    configFile: file,
    modelFile,
    ...(raw.model !== undefined && { modelAsWritten: raw.model }),
    format: raw.format ?? 'onnx',
    default: raw.default ?? false,
    strict: raw.strict ?? false,
    lax: raw.lax ?? true,
    fields,
    tensors,
    outputs,
    batching: {
      enabled: raw.batching?.enabled ?? DEFAULTS.batching.enabled,
      maxBatchSize: raw.batching?.max_batch_size ?? DEFAULTS.batching.maxBatchSize,
      maxQueueDelayMs: raw.batching?.max_queue_delay_ms ?? DEFAULTS.batching.maxQueueDelayMs,
    },
    queue: {
      maxRows: raw.queue?.max_rows ?? DEFAULTS.queue.maxRows,
      timeoutMs: raw.queue?.timeout_ms ?? DEFAULTS.queue.timeoutMs,
    },
    optimize: raw.optimize ?? true,
    rootResponse: raw.root_response,
    mqtt: raw.mqtt && mqttTopicsOf(raw.mqtt, at),
    routing,
  };
}

/** The model's own MQTT topics (the schema refused wildcards). */
function mqttTopicsOf(raw: NonNullable<RawConfig['mqtt']>, at: (path: string, message: string) => void): ModelConfig['mqtt'] {
  for (const key of ['request_topic', 'predictions_topic', 'errors_topic'] as const) {
    const problem = raw[key] === undefined ? undefined : sharedTopicProblem(raw[key]);
    if (problem !== undefined) at(`mqtt.${key}`, problem);
  }
  return { requestTopic: raw.request_topic, predictionsTopic: raw.predictions_topic, errorsTopic: raw.errors_topic };
}

/** A model needs fields, inputs and outputs; a pipeline derives them from its steps. */
export function shapeProblems(raw: unknown): Array<{ path: string; message: string }> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return [];
  const r = raw as Record<string, unknown>;
  if (r.pipeline !== undefined) {
    return ['model', 'fields', 'inputs', 'outputs', 'batching', 'optimize'].filter((k) => r[k] !== undefined)
      .map((k) => ({ path: k, message: `does not apply to a pipeline (${k === 'fields' || k === 'outputs' ? 'derived from its steps' : 'its steps are models with their own'})` }));
  }
  return ['fields', 'inputs', 'outputs'].filter((k) => r[k] === undefined).map((k) => ({ path: k, message: 'is required' }));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * A file as API clients may read its name: relative to the model repository (`repo`) when it is in it, else
 * `written`, the name its config gives it — never where it is on the server's disk (which the operator's messages
 * say): a client learns nothing of the disk's layout beyond the repository, nor of the server's working directory.
 */
export function fileForClients(file: string, repo: string, written = basename(file)): string {
  const inRepo = relative(resolve(repo), resolve(file));
  return inRepo === '' || inRepo === '..' || inRepo.startsWith(`..${sep}`) || isAbsolute(inRepo) ? written : inRepo;
}

/**
 * `forClients`: the root of the model repository, for the problems as API clients read them (Problem's forClients,
 * files named by fileForClients()); without it, as the operator does (files relative to `cwd`).
 */
export function formatProblems(problems: Problem[], cwd = process.cwd(), forClients?: string): string {
  const lines = problems.map((p) => forClients === undefined
    ? `  ${relative(cwd, p.file) || p.file}: ${p.path}: ${p.message}`
    : `  ${fileForClients(p.file, forClients)}: ${p.path}: ${typeof p.forClients === 'function' ? p.forClients(forClients) : p.forClients ?? p.message}`);
  return `invalid model configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`;
}

/**
 * The config of a version folder with no config file and exactly one .onnx file (Triton's
 * auto-complete): a 'raw' model whose inputs and outputs are the ONNX graph's own, checked and
 * described from the loaded session's signature (src/core). No fields: no JSON fields API.
 */
function rawConfig(where: VersionLocation, modelFile: string, problems: Problem[]): ModelConfig | undefined {
  const name = folderModelName(where);
  const problem = folderNameProblem(name);
  if (problem) {
    problems.push({ file: modelFile, path: 'name', message: `${problem}; rename the folder or add a model.yaml with name:` });
    return undefined;
  }
  return deepFreeze({
    name,
    kind: 'raw',
    version: String(where.version),
    modelVersion: where.version,
    modelDir: where.modelDir,
    versionPolicy: { latest: 1 },
    description: `${modelFile.split(/[\\/]/).pop()} served as is (no model.yaml): its inputs and outputs are the ONNX graph's own, over the Open Inference Protocol (/v2/models/${name}/infer).`,
    dir: where.dir,
    configFile: modelFile,
    modelFile,
    default: false,
    strict: false,
    lax: true,
    fields: [],
    tensors: [],
    outputs: [],
    batching: { ...DEFAULTS.batching },
    queue: { ...DEFAULTS.queue },
    optimize: true,
  } satisfies ModelConfig);
}

/**
 * What is wrong with a numbered version folder as a folder: one this process may not list (its files
 * were taken for missing: "no model.yaml"), or an empty one ("ONNX file not found", blaming the model
 * folder's config), each said with what it should hold. Undefined for a flat model's folder.
 */
export function versionFolderProblem(where: VersionLocation): string | undefined {
  return versionFolderSaid(where)?.(forOperator);
}

/** A file as the operator's messages name it: from the server's working directory. */
const forOperator = (file: string): string => relative(process.cwd(), file) || file;

/** versionFolderProblem's message, naming files as `name` does (the operator's, or API clients' fileForClients). */
function versionFolderSaid(where: VersionLocation): ((name: (file: string) => string) => string) | undefined {
  if (where.dir === where.modelDir) return undefined;
  const unlistable = unlistableReason(where.dir);
  if (unlistable !== undefined) return () => unlistable;
  let entries: string[];
  try {
    entries = readdirSync(where.dir).filter((e) => !e.startsWith('.'));
  } catch {
    return undefined; // removed while we looked: the config lookup says so
  }
  if (entries.length > 0) return undefined;
  const shared = findConfigFile(where.modelDir);
  const raw = shared === undefined ? undefined : readConfigFile(shared, []) as RawConfig | undefined;
  const sharedRaw = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw : undefined;
  if (sharedRaw?.pipeline !== undefined) return undefined; // a pipeline's version is its config alone
  // The shared config's model file outside the folder (an absolute path, `../model.onnx`) serves every version: nothing is missing.
  if (sharedRaw !== undefined && existsSync(resolve(where.dir, typeof sharedRaw.model === 'string' ? sharedRaw.model : sharedRaw.format === 'xgboost' ? 'model.json' : DEFAULTS.model))) return undefined;
  const expected = (name: (file: string) => string) => sharedRaw !== undefined
    ? `${typeof sharedRaw.model === 'string' ? sharedRaw.model : sharedRaw.format === 'xgboost' ? 'model.json' : DEFAULTS.model} (the model file ${name(shared!)} names for every version), and optionally its own ${CONFIG_FILE_NAMES.join(' / ')}`
    : `its ${CONFIG_FILE_NAMES.join(' / ')} and the model file it names (model.onnx unless model: says otherwise; model.json for format: xgboost), or a single .onnx file alone (served as is)`;
  return (name) => `version folder ${where.version} is empty: it should hold ${expected(name)}; copy the version's files in, or remove the folder`;
}

/**
 * Reads and validates one version's config: the version folder's own config file, else the model
 * folder's, else (a folder with exactly one .onnx file) a raw model's. Problems are appended to
 * `problems`; returns undefined when there are any.
 */
export function readVersionConfig(where: VersionLocation, problems: Problem[]): ModelConfig | undefined {
  const folderSaid = versionFolderSaid(where);
  if (folderSaid !== undefined) {
    problems.push({ file: where.dir, path: '(folder)', message: folderSaid(forOperator), forClients: (repo) => folderSaid((file) => fileForClients(file, repo)) });
    return undefined;
  }
  const file = findConfigFile(where.dir) ?? findConfigFile(where.modelDir);
  if (file === undefined) {
    const onnx = onnxFiles(where.dir);
    if (onnx.length === 1) return rawConfig(where, join(where.dir, onnx[0]!), problems);
    const xgboost = xgboostModelWithoutConfig(where.dir);
    const hint = (name: (file: string) => string) => xgboost !== undefined ? ` (its model.json is an XGBoost model, not a config: \`modelserve init ${name(xgboost)}\` writes a model.yaml for it)`
      : onnx.length > 1 ? ` (and ${onnx.length} .onnx files: a folder without a config must hold exactly one)` : '';
    const said = (name: (file: string) => string) => `no ${CONFIG_FILE_NAMES.join(' / ')} in the version folder or its model folder${hint(name)}`;
    problems.push({ file: where.dir, path: '(folder)', message: said(forOperator), forClients: (repo) => said((file) => fileForClients(file, repo)) });
    return undefined;
  }
  const raw = readConfigFile(file, problems);
  const beside = configBesideProblem(file, raw);
  if (beside) problems.push(beside);
  if (raw === undefined) return undefined;
  const shape = shapeProblems(raw);
  for (const p of shape) problems.push({ file, ...p });
  const schema = schemaProblems(file, raw);
  if (schema.length > 0) {
    problems.push(...schema);
    // Built as far as it goes, for the problems in the parts the schema did not reject: a reload
    // (--watch, the repository API) reports them all at once, as start-up and check do.
    try {
      buildConfig(where, file, structuredClone(raw) as RawConfig, (path, message, forClients) => { if (!underRejected(path, schema)) problems.push(problemAt(file, path, message, forClients)); });
    } catch {
      // A structure the schema rejected may not build at all; its schema problems say why.
    }
    return undefined;
  }
  if (shape.length > 0) return undefined;
  const before = problems.length;
  const config = buildConfig(where, file, raw as unknown as RawConfig, (path, message, forClients) => problems.push(problemAt(file, path, message, forClients)));
  return problems.length === before && beside === undefined ? deepFreeze(config) : undefined;
}

/** Whether a problem at key `path` lies at or under one the schema rejected (and so adds nothing). */
export function underRejected(path: string, rejected: readonly Problem[]): boolean {
  return rejected.some((s) => s.path === '(root)' || path === s.path || path.startsWith(`${s.path}.`));
}

/** The versions a policy selects among the ones on disk (ascending). */
export function selectVersions(policy: VersionPolicy, available: readonly number[]): number[] {
  const sorted = [...available].sort((a, b) => a - b);
  if ('all' in policy) return sorted;
  if ('specific' in policy) return sorted.filter((v) => policy.specific.includes(v));
  return sorted.slice(-policy.latest);
}

/** A model folder's versions on disk: its numbered folders, or the folder itself as version 1. */
export function versionLocations(modelDir: string): VersionLocation[] {
  return versionLayout(modelDir).locations;
}

/** versionLocations, danglingVersionLinks and versionLookalikes of a model folder, from one listing of it. */
export function versionLayout(modelDir: string): { locations: VersionLocation[]; danglingLinks: Problem[]; lookalikes: Problem[] } {
  const { folders, danglingLinks, lookalikes } = numberedEntries(modelDir);
  const locations = folders.length === 0 ? [{ dir: modelDir, modelDir, version: 1 }] : folders.map((v) => ({ dir: v.dir, modelDir, version: v.version }));
  return { locations, danglingLinks, lookalikes };
}

/** Where a model folder's version policy comes from: the policy, the config file that holds it and that file's problems. */
export interface VersionPolicySource {
  policy?: VersionPolicy;
  file?: string;
  problems: Problem[];
}

/**
 * The version policy of a model folder (its own config's, else the newest version's; latest 1 when
 * unreadable; none when the model folder's config that holds it is broken, and then no version is
 * selected, so a broken edit never changes what serves), with the config file it comes from and that
 * file's problems.
 */
export function versionPolicySource(modelDir: string, locations: readonly VersionLocation[]): VersionPolicySource {
  const own = findConfigFile(modelDir);
  // A model folder's config that every version folder overrides with its own is read for its
  // model-level keys alone: nothing else would say that it cannot be read or that they are invalid
  // (latest: 0 served every version, a typo or broken YAML the newest version's policy, silently).
  if (own !== undefined && locations.every((l) => l.dir !== modelDir && findConfigFile(l.dir) !== undefined)) {
    const problems: Problem[] = [];
    const raw = readConfigFile(own, problems);
    if (raw !== undefined) problems.push(...modelLevelProblems(own, raw));
    if (problems.length > 0) return { file: own, problems };
  }
  const files = [own, ...[...locations].reverse().map((l) => findConfigFile(l.dir))].filter((f): f is string => f !== undefined);
  for (const file of files) {
    const raw = readConfigFile(file, []) as RawConfig | undefined;
    if (raw && typeof raw === 'object') return { policy: policyOf(raw.version_policy), file, problems: [] };
  }
  return { policy: { latest: 1 }, problems: [] };
}

/**
 * The keys of a model folder's config that nothing reads: every version folder has a config of its own,
 * so only its model-level keys are read (a `default: true` or `name:` there did nothing, without a word).
 */
export function unreadSharedKeys(modelDir: string, locations: readonly VersionLocation[]): Problem[] {
  const own = findConfigFile(modelDir);
  if (own === undefined || !locations.every((l) => l.dir !== modelDir && findConfigFile(l.dir) !== undefined)) return [];
  const raw = readConfigFile(own, []);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return [];
  return Object.keys(raw).filter((key) => !isModelLevelPath(key)).map((key) => ({
    file: own, path: key,
    message: `is not read: every version folder has a config of its own, so this file is read for ${MODEL_LEVEL_KEYS.join(', ')} only (put ${key}: in the version folders' configs)`,
  }));
}

/**
 * The model-level keys a version folder's own config gives otherwise than the config they are read from (the model
 * folder's, else the newest served version's: see versionPolicySource and buildConfig): nothing reads them, so a
 * split or policy edited in an older version's file (or beside the model folder's) did nothing, without a word.
 */
export function unreadVersionKeys(modelDir: string, locations: readonly VersionLocation[]): Problem[] {
  const objectIn = (file: string | undefined) => {
    const raw = file === undefined ? undefined : readConfigFile(file, []);
    return raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw as Record<string, unknown> : undefined;
  };
  const source = versionPolicySource(modelDir, locations);
  if (source.policy === undefined) return []; // its broken source is reported as such
  const shared = findConfigFile(modelDir);
  const sharedRaw = objectIn(shared);
  const newest = locations.filter((l) => selectVersions(source.policy!, locations.map((v) => v.version)).includes(l.version)).pop();
  const newestFile = newest && (findConfigFile(newest.dir) ?? shared);
  const routingFile = sharedRaw !== undefined && ROUTING_KEYS.some((key) => sharedRaw[key] !== undefined) ? shared : newestFile;
  const problems: Problem[] = [];
  for (const where of locations) {
    const file = where.dir === modelDir ? undefined : findConfigFile(where.dir);
    const raw = objectIn(file);
    if (raw === undefined) continue;
    // default: too is the model's, read from its newest served version's config (see markedDefault).
    for (const key of [...MODEL_LEVEL_KEYS, 'default'] as const) {
      const from = key === 'version_policy' ? source.file : key === 'default' ? newestFile : routingFile;
      if (raw[key] === undefined || from === undefined || from === file) continue;
      const read = objectIn(from)?.[key];
      if (JSON.stringify(raw[key]) === JSON.stringify(read)) continue;
      const said = (shown: string) => `is not read: ${key} is the model's, read from ${shown}${read === undefined ? ', which has none' : ''}; set it there (or give every version's config the same)`;
      problems.push({ file: file!, path: key, message: said(relative(process.cwd(), from) || from), forClients: (repo) => said(fileForClients(from, repo)) });
    }
  }
  return problems;
}

/**
 * What is wrong with a model folder's version policy: the model folder's config holding it is broken
 * (see versionPolicySource), or it selects none of the versions (`specific` naming only versions
 * not on disk): the model would not be served at all, without a word. Triton refuses such a model
 * too ("at least one version must be available under the version policy").
 */
export function versionPolicyProblems(modelDir: string, locations: readonly VersionLocation[], available: readonly number[], source = versionPolicySource(modelDir, locations)): Problem[] {
  const { policy, file, problems } = source;
  if (policy === undefined) return problems;
  if (available.length === 0 || selectVersions(policy, available).length > 0) return [];
  const listed = 'specific' in policy ? `specific: [${policy.specific.join(', ')}]` : JSON.stringify(policy);
  const versions = [...available].sort((a, b) => a - b).join(', ');
  return [{ file: file ?? modelDir, path: 'version_policy', message: `${listed} selects none of the model's versions (on disk: ${versions}); the model would not be served` }];
}

/**
 * Loads and validates the config of every served version of every model of a repository (the
 * versions each model's policy selects); throws one StartupError listing every problem.
 */
export function loadRepository(repo: string): readonly ModelConfig[] {
  const problems: Problem[] = [];
  const configs: ModelConfig[] = [];
  // A model folder that cannot be read would otherwise be left out without a word (fewer models served).
  for (const modelDir of modelFolders(repo, problems)) {
    const locations = versionLocations(modelDir);
    // Read once for both: each read parses the configs it comes from again (with hundreds of models, most of start-up's parsing).
    const source = versionPolicySource(modelDir, locations);
    const wanted = new Set(source.policy ? selectVersions(source.policy, locations.map((l) => l.version)) : []);
    problems.push(...versionPolicyProblems(modelDir, locations, locations.map((l) => l.version), source));
    for (const where of locations) {
      if (!wanted.has(where.version)) continue;
      const config = readVersionConfig(where, problems);
      if (config) configs.push(config);
    }
  }
  problems.push(...repositoryProblems(configs));
  if (problems.length > 0) throw new StartupError('MS_ERR_CONFIG_INVALID', formatProblems(problems));
  return Object.freeze(configs);
}

/**
 * Cross-model rules: one model folder per name and one name per model folder, at most one default,
 * a shadow's model in the repository.
 */
export function repositoryProblems(configs: readonly ModelConfig[]): Problem[] {
  const problems: Problem[] = [];
  const folderOf = new Map<string, ModelConfig>();
  const nameOf = new Map<string, ModelConfig>();
  for (const c of configs) {
    const other = folderOf.get(c.name);
    const sibling = nameOf.get(c.modelDir);
    if (sibling && sibling.name !== c.name) {
      problems.push({ file: c.configFile, path: 'name', message: `version ${c.modelVersion} is named '${c.name}' but version ${sibling.modelVersion} of the same model folder '${sibling.name}': the versions of a model folder are one model` });
    } else if (other && other.modelDir !== c.modelDir) {
      const said = (file: string) => `model name '${c.name}' is already used by ${file}`;
      problems.push({ file: c.configFile, path: 'name', message: said(other.configFile), forClients: (repo) => said(fileForClients(other.configFile, repo)) });
    }
    else if (!other) folderOf.set(c.name, c);
    if (!sibling) nameOf.set(c.modelDir, c);
  }
  // One default model folder at most.
  const [first, ...rest] = markedDefault(configs);
  for (const c of rest) problems.push({ file: c.configFile, path: 'default', message: `only one model may be the default; ${first!.name} already is` });
  return problems.concat(shadowTargetProblems(configs));
}

/**
 * A shadow's model must be one of the repository, as a pipeline step's must: a typo turned every
 * copy into a counted error, without a word. (A split's or a shadow's version that is not served
 * gives its share to the others, as one not ready does: it may be on its way.)
 */
function shadowTargetProblems(configs: readonly ModelConfig[]): Problem[] {
  const models = new Set(configs.map((c) => c.name));
  const found = new Map<string, Problem>(); // the versions of a folder share its config: each problem once
  for (const c of configs) {
    const target = c.routing?.shadow?.model;
    if (target === undefined || models.has(target)) continue;
    const others = [...models].filter((n) => n !== c.name).sort();
    found.set(c.routing!.file, { file: c.routing!.file, path: 'shadow.model', message: `no model '${target}' in the repository${didYouMean(target, others)} (models: ${others.join(', ') || 'none'})` });
  }
  return [...found.values()];
}

/** Where a parsed config holds a number that is not finite: YAML's .inf and .nan, or one past a double's range (1e999). */
function nonFiniteNumbers(raw: unknown, path: string[], out: Array<{ path: string; value: number }>): typeof out {
  if (typeof raw === 'number' && !Number.isFinite(raw)) out.push({ path: path.length ? path.join('.') : '(root)', value: raw });
  else if (raw !== null && typeof raw === 'object') for (const [key, value] of Object.entries(raw)) nonFiniteNumbers(value, [...path, key], out);
  return out;
}

/** The schema's verdict on a parsed config file, one Problem per error. */
export function schemaProblems(file: string, raw: unknown): Problem[] {
  // No key takes such a number, and the schema's integer check lets Infinity through (ajv:
  // Infinity % 1 is NaN): serve then refused it with an internal message, check passed it.
  const nonFinite = nonFiniteNumbers(raw, [], []);
  const problems = nonFinite.map(({ path, value }) => ({ file, path, message: `must be a finite number, not ${value}` }));
  if (validateSchema(raw)) return problems;
  return problems.concat((validateSchema.errors ?? [])
    .filter((error) => !nonFinite.some((n) => n.path === keyPath(error)))
    // A oneOf's own error adds nothing: the branch's error says what is wrong.
    .filter((error) => !(error.keyword === 'oneOf' || (error.keyword === 'type' && error.instancePath === '/pipeline/outputs')))
    // An error inside propertyNames repeats its propertyNames error, which names the key.
    .filter((error) => error.propertyName === undefined)
    .map((error) => ({ file, path: keyPath(error), message: schemaMessage(error, raw) })));
}

/**
 * The configs (one per model folder) that make their model the default: `default:` is the model's, read as its
 * split is, from its newest served version's config. Any version's counted: with version_policy all: true, an older
 * version's forgotten `default: true` made the model the default, and whether it did hung on the policy.
 */
export function markedDefault(configs: readonly ModelConfig[]): ModelConfig[] {
  const newest = new Map<string, ModelConfig>();
  for (const c of configs) if ((newest.get(c.modelDir)?.modelVersion ?? -Infinity) < c.modelVersion) newest.set(c.modelDir, c);
  return [...newest.values()].filter((c) => c.default);
}

/** The model POST /predict serves: the one marked default, or the only one. */
export function defaultModel(configs: readonly ModelConfig[]): ModelConfig | undefined {
  const names = new Set(configs.map((c) => c.name));
  return markedDefault(configs)[0] ?? (names.size === 1 ? configs[configs.length - 1] : undefined);
}
