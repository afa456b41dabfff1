// The model repository on disk, as --watch and the repository API see it: every model folder,
// its versions (numbered folders, or the flat folder as version 1), which of them the model's
// version policy selects, and a fingerprint of each version's files to notice changes.
//
// When is a version complete (safe to load)? When it has a config (its own or the model folder's)
// and at least one other file (a pipeline's config needs none; nor does one whose model file lies
// outside the folder, when that file is there), none of its files has changed for `settleMs` (a copy in progress
// keeps touching them) nor, while its model file ends early (a copy stalled), for `incompleteMs`, its config validates
// and its model file loads. A version not yet complete
// on disk is neither loaded nor counted by the version policy, so a newer version being copied in
// never displaces the one serving; one that then fails to validate or load never takes traffic.
import { lstatSync, statfsSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { findConfigFile, listFolder, modelFolders, onnxFiles, readConfigFile, readVersionConfig, selectVersions, unlistableReason, versionLayout, versionPolicyProblems, versionPolicySource, withListings, type Problem, type VersionLocation, type VersionPolicySource } from '../config/load.js';
import type { ModelConfig } from '../config/types.js';
import { MAX_MODEL_NAME_LENGTH } from '../config/schema.js';
import { ModelServeError } from '../errors.js';
import { modelFileEndsEarly as fileEndsEarly } from './model-bytes.js';

export interface ScannedVersion {
  version: number;
  fingerprint: string;
  /** Files changed within the settle period: a copy may be in progress. */
  settling: boolean;
  /** Why its model file is cut short, while that is waited for (see WatchOptions.incompleteMs). */
  incomplete?: string;
  /** Holds what a version needs (a config and a model file), settled or not. */
  complete: boolean;
  /** Selected by the model's version policy (among the complete versions). */
  selected: boolean;
  /** Why this process may not list its folder (a chmod gone wrong): neither arriving nor removed. */
  unreadable?: string;
  /** Reads and validates this version's config (problems appended). */
  read(problems: Problem[]): ModelConfig | undefined;
}

export interface ScannedModel {
  name: string;
  dir: string;
  versions: ScannedVersion[];
  /** Its version policy is broken or selects none of its versions (see versionPolicyProblems). */
  policyProblems?: Problem[];
  /** Its version folders this process may not list, each with why. */
  unreadable?: Problem[];
  /** Its numbered entries that are symbolic links to no folder (not versions: see danglingVersionLinks). */
  danglingLinks?: Problem[];
  /** Its subfolders named like a version that are none (`02`, `v3`: see versionLookalikes). */
  lookalikes?: Problem[];
}

/** A folder of the repository (a model folder, or the repository itself) that cannot be listed now, and why. */
export interface UnreadableFolder {
  dir: string;
  problem: Problem;
}

export interface WatchOptions {
  /** Poll period (the fallback when file events are missed, e.g. on network filesystems), ms. */
  pollMs?: number;
  /** Quiet time after a file event before rescanning, ms. */
  debounceMs?: number;
  /** A version whose files changed within this time is not loaded yet, ms. */
  settleMs?: number;
  /**
   * A version whose model file (ONNX, or XGBoost's JSON) ends early (a copy stalled for longer than settleMs) is not loaded yet while it
   * changed within this time, ms; past it, its load is tried (and fails, saying the file is cut short).
   */
  incompleteMs?: number;
  /** Poll period while file events are trusted and no version is settling (see RepositoryWatcher), ms; 10 x pollMs by default. */
  quietPollMs?: number;
}

const DEFAULT_WATCH = { pollMs: 1000, debounceMs: 200, settleMs: 1000, incompleteMs: 60_000 };

/** How long a change keeps a version from loading (scanRepository): none for a load asked for (the repository API). */
export type SettleTimes = Pick<Required<WatchOptions>, 'settleMs' | 'incompleteMs'>;

/**
 * Files that describe a version: the version folder's files and, for a shared config, the model folder's config.
 * `newest`, the last change, is by ctime alone: the system sets it on every write, rename and time change, while
 * a modification time may be anything — one in the future (a zip made in a timezone ahead of this one, an archive
 * from a machine whose clock is ahead) kept the version settling, neither loaded nor listed, until that time.
 */
function fingerprintOf(where: VersionLocation): { fingerprint: string; newest: number; files: number } {
  const parts: string[] = [];
  let newest = 0;
  try {
    newest = statSync(where.dir).ctimeMs; // entries added or removed
  } catch {
    /* removed meanwhile */
  }
  const add = (file: string) => {
    try {
      const s = statSync(file);
      if (!s.isFile()) return;
      // ctime too: a file replaced by one of the same size and modification time (`tar -xf` of a
      // reproducible archive, `cp -p`, `rsync -a`: a retrained model is as large as the one before) is a change.
      parts.push(`${file}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`);
      newest = Math.max(newest, s.ctimeMs);
    } catch {
      /* removed meanwhile */
    }
  };
  let entries: string[] = [];
  try {
    entries = listFolder(where.dir).sort();
  } catch {
    /* removed meanwhile */
  }
  for (const e of entries) add(join(where.dir, e));
  const files = parts.length;
  if (where.dir !== where.modelDir) {
    const shared = findConfigFile(where.modelDir);
    if (shared) add(shared);
  }
  return { fingerprint: parts.join('|'), newest, files };
}

/** The model file a config names outside its folder, when it is a file there now. */
function modelFileOutside(config: ModelConfig | undefined, dir: string): { file: string; size: number; mtimeMs: number; ctimeMs: number } | undefined {
  if (config === undefined || config.pipeline !== undefined) return undefined;
  const rel = relative(dir, config.modelFile);
  if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) return undefined;
  try {
    const s = statSync(config.modelFile);
    return s.isFile() ? { file: config.modelFile, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs } : undefined;
  } catch {
    return undefined;
  }
}

const configCache = new Map<string, { config: ModelConfig | undefined; problems: Problem[] }>();

/** fileEndsEarly() by the version's fingerprint (it reads the file: not again on every scan). */
const cutCache = new Map<string, string | undefined>();

/** Why the model file (ONNX, or XGBoost's JSON) of a version's config ends early, if it does (pipelines have none). */
function modelFileEndsEarly(config: ModelConfig | undefined, cacheKey: string): string | undefined {
  if (config === undefined || config.pipeline !== undefined) return undefined;
  if (!cutCache.has(cacheKey)) {
    if (cutCache.size > 10_000) cutCache.clear();
    cutCache.set(cacheKey, fileEndsEarly(config.modelFile, config.format === 'xgboost' ? 'xgboost' : 'onnx'));
  }
  return cutCache.get(cacheKey);
}

/**
 * A model folder's version policy by its versions' fingerprints, which cover every config it is read from (each version's
 * own and the model folder's): parsing those configs again on every poll cost most of a scan (300 models: 0.3 s a second, idle).
 */
const policyCache = new Map<string, VersionPolicySource>();

function cachedPolicySource(dir: string, locations: readonly VersionLocation[], versions: readonly { version: number; fingerprint: string }[]): VersionPolicySource {
  const key = [dir, ...versions.map((v) => `${v.version}\n${v.fingerprint}`)].join('\n');
  let source = policyCache.get(key);
  if (source === undefined) {
    source = versionPolicySource(dir, locations);
    if (policyCache.size > 10_000) policyCache.clear();
    policyCache.set(key, source);
  }
  return source;
}

/** The name each model folder had at its last scan. */
const namesByFolder = new Map<string, string>();

/**
 * The name a model folder's configs give, read as far as they go: a config broken elsewhere (a field's type) still
 * names its model. The newest version's first; undefined when none says a valid one.
 */
function declaredName(locations: readonly VersionLocation[]): string | undefined {
  for (const where of [...locations].reverse()) {
    const file = findConfigFile(where.dir) ?? findConfigFile(where.modelDir);
    const raw = file === undefined ? undefined : readConfigFile(file, []);
    const name = typeof raw === 'object' && raw !== null ? (raw as { name?: unknown }).name : undefined;
    if (typeof name === 'string' && /^[a-z0-9][a-z0-9_-]*$/.test(name) && name.length <= MAX_MODEL_NAME_LENGTH) return name;
  }
  return undefined;
}

function folderName(dir: string): string {
  return (dir.split(/[\\/]/).pop() ?? 'model').toLowerCase();
}

/**
 * Scans the whole repository as it is on disk now (callers pick the models they want). `served`: the name each model
 * folder is served under (model folder -> name), the name it had even if this process never scanned
 * it before (a load without --watch). `loaded`: the versions loaded now, as `<model folder>\n<version>`.
 */
export function scanRepository(repo: string, times: SettleTimes = { settleMs: 0, incompleteMs: 0 }, served?: ReadonlyMap<string, string>, loaded?: ReadonlySet<string>, watching = false): ScanResult {
  // Each folder listed once by the whole scan (see withListings).
  return withListings(() => scanNow(repo, times, served, loaded, watching));
}

/** What a scan found, and what it tells the watcher about its pace (see RepositoryWatcher). */
export interface ScanResult {
  models: ScannedModel[];
  unreadable: UnreadableFolder[];
  /** A version waits for time to pass (settling, or its model file cut short): the next scan is due without a file event. */
  pending: boolean;
  /** Files whose changes the repository's file events may not tell: a model file outside it, a folder that is a symbolic link (looked for when `watching`). */
  uncovered: boolean;
  /**
   * The model folders whose files differ from the scan before (of this process), a folder gone among them: changes,
   * announced by a file event or not. The watcher tells which by the folder each event names.
   */
  changedFolders: string[];
}

/** Each model folder's fingerprints at its last scan (ScanResult.changedFolders). */
const printsByFolder = new Map<string, string>();

const isLink = (path: string): boolean => {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
};

function scanNow(repo: string, times: SettleTimes, served: ReadonlyMap<string, string> | undefined, loaded: ReadonlySet<string> | undefined, watching: boolean): ScanResult {
  const now = Date.now();
  // Folders this process may no longer list (a chmod or chown gone wrong): not models removed.
  const root = resolve(repo);
  const rootReason = unlistableReason(root);
  // A symlinked repository is watched where it led at start: a swap of the link (git-sync, a ConfigMap) sends no event.
  // (Links looked for by a watch pass alone: an lstat per folder.)
  let uncovered = watching && isLink(root);
  let pending = false;
  const changedFolders: string[] = [];
  if (rootReason !== undefined) return { models: [], unreadable: [{ dir: root, problem: { file: repo, path: '(folder)', message: rootReason } }], pending, uncovered: true, changedFolders };
  const unlistable: Problem[] = [];
  let folders: string[];
  try {
    folders = modelFolders(repo, unlistable);
  } catch (err) {
    if (err instanceof ModelServeError && err.code === 'MS_ERR_CONFIG_NOT_FOUND') folders = [];
    else throw err;
  }
  const models: ScannedModel[] = [];
  for (const dir of folders) {
    const { locations, danglingLinks, lookalikes } = versionLayout(dir);
    const prints = locations.map((where) => fingerprintOf(where));
    // A version's config is checked against the model's policy, which may be another version's (the newest's): every version's files.
    const modelKey = prints.map((p) => p.fingerprint).join('\n');
    if (printsByFolder.get(dir) !== modelKey) changedFolders.push(dir);
    printsByFolder.set(dir, modelKey);
    // Node's recursive watch does not descend into a linked folder.
    if (watching) uncovered ||= isLink(dir) || locations.some((where) => where.dir !== dir && isLink(where.dir));
    const versions = locations.map((where, i) => {
      const inFolder = prints[i]!;
      let { fingerprint, newest } = inFolder;
      const files = inFolder.files;
      const ownConfig = findConfigFile(where.dir);
      const cacheKey = `${where.dir}\n${modelKey}`;
      const read = (problems: Problem[]): ModelConfig | undefined => {
        let cached = configCache.get(cacheKey);
        if (cached === undefined) {
          const found: Problem[] = [];
          cached = { config: readVersionConfig(where, found), problems: found };
          if (configCache.size > 10_000) configCache.clear();
          configCache.set(cacheKey, cached);
        }
        problems.push(...cached.problems);
        return cached.config;
      };
      // A config whose model file lies outside the folder (`model: ../shared/svc.onnx`, an absolute
      // path) has it all, as serve found at start; that file's changes are the version's changes.
      // (Taken for a folder still arriving, such a model was never reloaded, by --watch or a load.)
      const outside = ownConfig !== undefined && files === 1 ? modelFileOutside(read([]), where.dir) : undefined;
      if (outside) {
        uncovered = true; // outside the watched folder
        fingerprint += `|${outside.file}:${outside.size}:${outside.mtimeMs}:${outside.ctimeMs}`;
        newest = Math.max(newest, outside.ctimeMs);
      }
      // A config and something besides it: an empty or config-only version folder is still arriving.
      // (Or, without any config, an .onnx file: one is a raw model, several a problem to report.)
      const present = (ownConfig ?? findConfigFile(where.modelDir)) !== undefined ? files > (ownConfig ? 1 : 0) || outside !== undefined : onnxFiles(where.dir).length > 0;
      // A pipeline is its config alone: nothing else arrives.
      const complete = present || (ownConfig !== undefined && files === 1 && read([])?.pipeline !== undefined);
      const settling = !complete || (times.settleMs > 0 && now - newest < times.settleMs);
      // Settled, but its model file is cut short: a copy stalled (a slow network share), waited for a while longer.
      const incomplete = complete && !settling && times.incompleteMs > 0 && now - newest < times.incompleteMs ? modelFileEndsEarly(read([]), `${where.dir}\n${fingerprint}`) : undefined;
      // A version folder that lists nothing may be one this process can no longer list: it looked
      // still arriving (its version loaded before kept, the one before it loaded too, nothing said).
      const unreadable = files === 0 && where.dir !== dir ? unlistableReason(where.dir) : undefined;
      // Settling by time (not a folder still arriving, which its next file's event announces).
      if (complete && (settling || incomplete !== undefined)) pending = true;
      return { version: where.version, fingerprint, settling: settling || incomplete !== undefined, incomplete, complete, selected: false, read, ...(unreadable !== undefined && { unreadable }) };
    });
    const source = cachedPolicySource(dir, locations, versions);
    // An unreadable version still counts for the policy (an older one is not loaded in its place), but is not loaded.
    // So does a loaded version whose files are changing (an edit of the serving version): it is not the version before
    // it that serves meanwhile (loaded, then unloaded as 'removed' once the edit settled), nor is it reloaded mid-copy.
    const held = (v: ScannedVersion) => v.settling && v.complete && loaded?.has(`${dir}\n${v.version}`) === true;
    const complete = versions.filter((v) => !v.settling || v.unreadable !== undefined || held(v)).map((v) => v.version);
    const chosen = new Set(source.policy ? selectVersions(source.policy, complete) : []);
    // Against every version folder, complete or not: one still being copied in is no problem.
    const policyProblems = versionPolicyProblems(dir, locations, versions.map((v) => v.version), source);
    for (const v of versions) v.selected = chosen.has(v.version) && v.unreadable === undefined && !held(v);
    const unreadable = versions.filter((v) => v.unreadable !== undefined).map((v) => ({ file: join(dir, String(v.version)), path: '(folder)', message: `${v.unreadable!}; not taken for removed: the versions loaded before keep serving` }));
    // The model's name: the one it had, as long as a version's config still gives it (a version
    // named otherwise is a problem of that version, not a rename of the model); else the newest
    // readable config's; else, with none readable now (a broken edit), still the one it had, so
    // that the model is not taken for removed; else the name: its broken configs still give (a folder renamed
    // meanwhile is the same model, whose previous load keeps serving); else the folder's.
    const names = [...versions].reverse().map((v) => v.read([])?.name).filter((n): n is string => n !== undefined);
    const before = served?.get(dir) ?? namesByFolder.get(dir);
    const name = (before !== undefined && (names.length === 0 || names.includes(before)) ? before : names[0]) ?? declaredName(locations) ?? folderName(dir);
    namesByFolder.set(dir, name);
    models.push({ name, dir, versions, ...(policyProblems.length > 0 && { policyProblems }), ...(unreadable.length > 0 && { unreadable }), ...(danglingLinks.length > 0 && { danglingLinks }), ...(lookalikes.length > 0 && { lookalikes }) });
  }
  if (models.length !== printsByFolder.size) {
    // A model folder gone (or one no longer a model folder).
    const dirs = new Set(models.map((m) => m.dir));
    for (const dir of printsByFolder.keys()) {
      if (dirs.has(dir) || (dir !== root && !dir.startsWith(`${root}${sep}`))) continue;
      printsByFolder.delete(dir);
      changedFolders.push(dir);
    }
  }
  return { models, unreadable: unlistable.map((problem) => ({ dir: join(root, basename(problem.file)), problem })), pending, uncovered: uncovered || unlistable.length > 0, changedFolders };
}

/** File systems whose changes this kernel sees made (inotify): a network share's changes made on another machine send no event. */
const LOCAL_FILE_SYSTEMS = new Set([
  0xef53, // ext2/3/4
  0x58465342, // xfs
  0x9123683e, // btrfs
  0x01021994, // tmpfs (a Kubernetes ConfigMap or Secret volume)
  0x858458f6, // ramfs
  0x794c7630, // overlayfs (a container's own files)
  0x2fc12fc1, // zfs
  0xf2f52010, // f2fs
]);

function localFileSystem(dir: string): boolean {
  try {
    return LOCAL_FILE_SYSTEMS.has(statfsSync(dir).type);
  } catch {
    return false;
  }
}

/**
 * Calls `onChange` after file events (debounced) and every pollMs (the fallback); never two at
 * once. The callback decides what changed (fingerprints), so a spurious call costs one scan.
 *
 * Polling at pollMs stats every file of every version (in-place edits change no folder): with hundreds of models an idle
 * server spent 8-10 % of a core on it. So while file events can be trusted — the recursive watch runs, the repository is on a
 * local file system, no model file lies outside it nor folder is a link, and every model folder's last change a pass found
 * came with its event — and no version waits for time to pass (settling), the poll is a safety net at quietPollMs.
 *
 * An event announces only the model folder it names (the first segment of its filename, relative to the repository; any
 * named event, for a repository that is itself the model folder): a folder whose events never arrive (a mount inside the
 * repository) is not announced by a local folder's event in the same pass, nor trusted again by a local folder's announced
 * change — only by a change of its own that comes with its event (or by its going away). An event with no filename (some
 * platforms) runs a pass but announces no model: the changes it may stand for count as unannounced, the poll stays at pollMs.
 */
export class RepositoryWatcher {
  readonly options: Required<WatchOptions>;
  private fsWatcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private local = false;
  private readonly root: string;
  /** Model folders (as named by events: relative to the repository) whose last change a pass found came with no file event. */
  private readonly missed = new Set<string>();
  private events = 0;
  /** Per first segment of an event's filename: the event count at the latest event naming it (pruned once no pass asks). */
  private readonly namedAt = new Map<string, number>();
  /** The event count at the latest event with a filename (announces a repository that is itself the model folder). */
  private lastNamedAt = 0;
  private eventsAtLastPass: number | undefined;
  /**
   * Model folders a pass found changed with no event naming them since the count given: undecided until a later pass, as
   * the change's event may be queued still (a write just before or during the pass, the machine busy), and is handled only
   * when the pass has ended.
   */
  private readonly unannounced = new Map<string, number>();
  private paceMs: number;

  constructor(
    private readonly repo: string,
    options: WatchOptions,
    private readonly onChange: () => Promise<WatchPassReport | void>,
  ) {
    // An option given as undefined (an options object built from optional settings) is its default, not undefined:
    // a poll period of undefined polled every millisecond, an incompleteMs of undefined loaded cut-short files.
    const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as WatchOptions;
    const pollMs = given.pollMs ?? DEFAULT_WATCH.pollMs;
    this.options = { ...DEFAULT_WATCH, quietPollMs: Math.max(pollMs, pollMs * 10), ...given };
    this.paceMs = this.options.pollMs;
    this.root = resolve(repo);
  }

  /** The poll period now: pollMs, or quietPollMs while file events are trusted and nothing waits for time. */
  get pollPaceMs(): number {
    return this.paceMs;
  }

  start(): void {
    this.local = localFileSystem(this.repo);
    try {
      this.fsWatcher = watch(this.repo, { recursive: true }, (_type, filename) => {
        this.events++;
        if (filename) {
          this.lastNamedAt = this.events;
          this.namedAt.set(filename.split(/[\\/]/)[0]!, this.events);
        }
        this.soon();
      });
      this.fsWatcher.on('error', () => {
        this.fsWatcher?.close();
        this.fsWatcher = undefined; // polling alone from now on
        this.pace(this.options.pollMs);
      });
    } catch {
      this.fsWatcher = undefined; // no recursive watch here: polling only
    }
    this.pace(this.options.pollMs);
  }

  private pace(ms: number): void {
    if (this.stopped) return;
    if (ms === this.paceMs && this.pollTimer !== undefined) return;
    this.paceMs = ms;
    clearInterval(this.pollTimer);
    this.pollTimer = setInterval(() => this.run(), ms);
    this.pollTimer.unref();
  }

  private soon(): void {
    if (this.stopped) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => this.run(), this.options.debounceMs);
    this.debounceTimer.unref();
  }

  private run(chained = false): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const events = this.events;
    this.running = this.onChange()
      .then((report) => this.afterPass(report ?? undefined, events, chained))
      .catch(() => this.pace(this.options.pollMs))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.run(true);
        }
      });
  }

  /** A model folder as events name it: its path relative to the repository ('' for the repository itself). */
  private folderKey(dir: string): string {
    return relative(this.root, resolve(dir));
  }

  /** Whether an event named `folder` after the event count `since` (counted up to now). */
  private announcedSince(folder: string, since: number): boolean {
    return (folder === '' ? this.lastNamedAt : (this.namedAt.get(folder) ?? 0)) > since;
  }

  /** `chained`: the pass ran straight after the one before, with maybe no turn of the event loop to read file events between. */
  private afterPass(report: WatchPassReport | undefined, events: number, chained: boolean): void {
    // A change found earlier with no event: an event since naming its folder announced it after all; none means events are
    // missed there (a mount inside the repository, ...). Decided by a pass not chained, so that one stall does not leave
    // the fast pace on for good, nor a pass run before events could be read call them missed.
    for (const [folder, since] of this.unannounced) {
      if (this.announcedSince(folder, since)) this.missed.delete(folder);
      else if (!chained) this.missed.add(folder);
      else continue;
      this.unannounced.delete(folder);
    }
    if (report !== undefined && this.eventsAtLastPass !== undefined && this.fsWatcher !== undefined) {
      for (const dir of report.changedFolders) {
        const folder = this.folderKey(dir);
        // Events counted up to now, not to the pass's start: a write during the pass is announced by its event.
        if (this.announcedSince(folder, this.eventsAtLastPass)) this.missed.delete(folder);
        else if (!this.unannounced.has(folder)) this.unannounced.set(folder, this.eventsAtLastPass);
      }
    }
    this.eventsAtLastPass = events;
    // A folder gone sends no more changes to miss (its coming back is an event in the repository's own folder).
    for (const folder of this.missed) if (statSync(join(this.root, folder), { throwIfNoEntry: false })?.isDirectory() !== true) this.missed.delete(folder);
    // Events older than any a later pass asks about are forgotten: a repository's folder that gets a new file name a
    // second does not grow the map.
    const oldest = Math.min(this.eventsAtLastPass, ...this.unannounced.values());
    for (const [name, at] of this.namedAt) if (at <= oldest) this.namedAt.delete(name);
    const trusted = this.fsWatcher !== undefined && this.local && this.missed.size === 0 && this.unannounced.size === 0 && report !== undefined && !report.pending && !report.uncovered;
    this.pace(trusted ? this.options.quietPollMs : this.options.pollMs);
  }

  stop(): void {
    this.stopped = true;
    this.fsWatcher?.close();
    clearInterval(this.pollTimer);
    clearTimeout(this.debounceTimer);
  }
}

/** What a watch pass's scan found that sets the poll's pace (see ScanResult): changedFolders are the model folders' paths. */
export type WatchPassReport = Pick<ScanResult, 'pending' | 'uncovered' | 'changedFolders'>;
