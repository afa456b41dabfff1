// Reads the project's Dockerfile and .dockerignore into plain data (with dockerfile-ast), and replays
// an image build on the host without a Docker engine: each stage gets its own folder standing in for
// its filesystem, COPY copies from the build context (as filtered by .dockerignore) or from another
// stage's folder, RUN runs through `sh -c` in the stage's WORKDIR with the stage's ENV. The image's
// ENTRYPOINT + CMD can then be started as the image's USER. Used by test/deploy/*.test.ts and nothing
// else; it understands the instructions our Dockerfile uses and fails loudly on any other.
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file compiles to dist/test/deploy/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Step {
  keyword: string;
  /** Arguments after flags, with $VAR / ${VAR} expanded from the ARG/ENV values in scope. */
  args: string[];
  /** Raw argument text after flags (continuation lines joined), variables expanded. */
  content: string;
  flags: Record<string, string>;
  /** For exec-form (JSON) instructions: the strings of the JSON array. */
  json?: string[];
  /** For ENV and ARG: the name=value pairs it sets (expanded). */
  props?: Record<string, string>;
  line: number;
}

export interface Stage {
  name: string;
  /** Base image reference, variables expanded. */
  base: string;
  steps: Step[];
  env: Record<string, string>;
  workdir: string;
  user?: string;
  expose: string[];
  entrypoint?: string[];
  cmd?: string[];
  healthcheck?: { flags: Record<string, string>; cmd: string[] };
  stopSignal?: string;
}

export interface ImageSpec {
  stages: Stage[];
  /** The final stage: what `docker build` produces by default. */
  runtime: Stage;
}

function expand(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a?: string, def?: string, b?: string) => {
    const name = (a ?? b) as string;
    return vars[name] ?? def ?? '';
  });
}

function flagsOf(ins: Instruction): Record<string, string> {
  const out: Record<string, string> = {};
  const withFlags = ins as unknown as { getFlags?: () => Array<{ getName(): string; getValue(): string | null }> };
  for (const f of withFlags.getFlags?.() ?? []) out[f.getName()] = f.getValue() ?? '';
  return out;
}

export function parseDockerfile(text: string): ImageSpec {
  const df = DockerfileParser.parse(text);
  const globalArgs: Record<string, string> = {};
  for (const a of df.getInitialARGs()) {
    const p = a.getProperty();
    if (p) globalArgs[p.getName()] = p.getValue() ?? '';
  }
  const stages: Stage[] = [];
  let stage: Stage | undefined;
  let vars: Record<string, string> = {};
  for (const ins of df.getInstructions()) {
    const keyword = ins.getKeyword();
    const line = ins.getRange().start.line + 1;
    if (keyword === 'FROM') {
      const args = ins.getArguments().map((a) => expand(a.getValue(), globalArgs));
      const asAt = args.findIndex((a) => a.toUpperCase() === 'AS');
      stage = { name: asAt >= 0 ? args[asAt + 1] : String(stages.length), base: args[0], steps: [], env: {}, workdir: '/', expose: [] };
      stages.push(stage);
      vars = {};
      continue;
    }
    if (!stage) {
      if (keyword === 'ARG') continue; // global ARGs were read above
      throw new Error(`Dockerfile line ${line}: ${keyword} before the first FROM`);
    }
    const flags = flagsOf(ins);
    const rawContent = ins.getArgumentsContent() ?? '';
    const step: Step = {
      keyword,
      args: ins.getArguments().map((a) => expand(a.getValue(), vars)),
      content: expand(rawContent.replace(/\\\r?\n/g, ' '), vars),
      flags,
      line,
    };
    const jsonText = keyword === 'HEALTHCHECK' ? rawContent.replace(/^\s*CMD\s+/i, '') : rawContent;
    if (/^\s*\[/.test(jsonText)) step.json = JSON.parse(jsonText) as string[];
    stage.steps.push(step);
    switch (keyword) {
      case 'ARG': {
        step.props = {};
        for (const p of (ins as unknown as { getProperties(): Array<{ getName(): string; getValue(): string | null }> }).getProperties()) {
          vars[p.getName()] = step.props[p.getName()] = p.getValue() ?? globalArgs[p.getName()] ?? '';
        }
        break;
      }
      case 'ENV': {
        for (const p of (ins as unknown as { getProperties(): Array<{ getName(): string; getValue(): string | null }> }).getProperties()) {
          const v = expand(p.getValue() ?? '', vars);
          stage.env[p.getName()] = v;
          step.props = { ...step.props, [p.getName()]: v };
          vars[p.getName()] = v;
        }
        break;
      }
      case 'WORKDIR':
        stage.workdir = posix.resolve(stage.workdir, step.args[0]);
        break;
      case 'USER':
        stage.user = step.args[0];
        break;
      case 'EXPOSE':
        stage.expose.push(...step.args);
        break;
      case 'ENTRYPOINT':
        stage.entrypoint = step.json ?? ['/bin/sh', '-c', step.content];
        break;
      case 'CMD':
        stage.cmd = step.json ?? ['/bin/sh', '-c', step.content];
        break;
      case 'HEALTHCHECK':
        if (!step.json) throw new Error(`Dockerfile line ${line}: use the exec (JSON) form of HEALTHCHECK CMD`);
        stage.healthcheck = { flags, cmd: step.json };
        break;
      case 'STOPSIGNAL':
        stage.stopSignal = step.args[0];
        break;
      default:
        break;
    }
  }
  if (stages.length === 0) throw new Error('Dockerfile has no FROM');
  return { stages, runtime: stages[stages.length - 1] };
}

export function readImageSpec(file = join(REPO_ROOT, 'Dockerfile')): ImageSpec {
  return parseDockerfile(readFileSync(file, 'utf8'));
}

// ---- .dockerignore -------------------------------------------------------------------------------

interface IgnoreRule {
  negate: boolean;
  pattern: string;
  re: RegExp;
}

/** Go filepath.Match syntax plus `**` (any number of path segments), as Docker's builder reads it. */
function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 1);
      if (close < 0) throw new Error(`bad pattern ${glob}`);
      re += `[${glob.slice(i + 1, close).replace(/^\^/, '!').replace(/^!/, '^')}]`;
      i = close;
    } else if (c === '\\') re += `\\${glob[++i] ?? '\\'}`;
    else re += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (let line of text.split(/\r?\n/)) {
    line = line.trim();
    if (!line || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    const pattern = posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
    rules.push({ negate, pattern, re: globToRegExp(pattern) });
  }
  return rules;
}

/** Docker's rule: a pattern matches a path if it matches the path or one of its parent folders; the last matching rule wins. */
export function isIgnored(relPath: string, rules: IgnoreRule[]): boolean {
  const parts = relPath.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const r of rules) if (prefixes.some((p) => r.re.test(p))) ignored = !r.negate;
  return ignored;
}

/** Files of the build context (relative POSIX paths) that `docker build .` would send. */
export function contextFiles(root = REPO_ROOT): Set<string> {
  const ignoreFile = join(root, '.dockerignore');
  const rules = existsSync(ignoreFile) ? parseDockerignore(readFileSync(ignoreFile, 'utf8')) : [];
  const canReinclude = (dir: string) => rules.some((r) => r.negate && (r.pattern.startsWith(`${dir}/`) || r.pattern.includes('**')));
  const out = new Set<string>();
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      const ignored = isIgnored(path, rules);
      if (entry.isDirectory()) {
        if (ignored && !canReinclude(path)) continue;
        walk(path);
      } else if (!ignored) out.add(path);
    }
  };
  walk('');
  return out;
}

// ---- replaying the build -------------------------------------------------------------------------

export interface ReplayOptions {
  /** Folder that holds one subfolder per stage (`<dir>/<stage name>` stands for that stage's `/`). */
  dir: string;
  context?: string;
  /** Extra environment for RUN steps (e.g. npm_config_prefer_offline). */
  runEnv?: Record<string, string>;
  /** Called before each step, for progress messages. */
  onStep?: (stage: Stage, step: Step) => void;
}

export interface ReplayResult {
  stageRoot(stage: string): string;
  /** Host path of an absolute path inside the given stage. */
  hostPath(stage: string, path: string): string;
}

export function replayBuild(spec: ImageSpec, opts: ReplayOptions): ReplayResult {
  const context = opts.context ?? REPO_ROOT;
  const files = contextFiles(context);
  const stageRoot = (name: string) => join(opts.dir, name);
  const hostPath = (name: string, p: string) => join(stageRoot(name), p);
  for (const stage of spec.stages) {
    let workdir = '/';
    const env: Record<string, string> = {};
    mkdirSync(stageRoot(stage.name), { recursive: true });
    for (const step of stage.steps) {
      opts.onStep?.(stage, step);
      switch (step.keyword) {
        case 'WORKDIR':
          workdir = posix.resolve(workdir, step.args[0]);
          mkdirSync(hostPath(stage.name, workdir), { recursive: true });
          break;
        case 'ENV':
          Object.assign(env, step.props);
          break;
        case 'COPY': {
          const from = step.flags.from;
          const parts = step.json ?? step.args;
          const srcs = parts.slice(0, -1);
          const destArg = parts[parts.length - 1];
          const dest = hostPath(stage.name, posix.resolve(workdir, destArg));
          const destIsDir = destArg.endsWith('/') || srcs.length > 1;
          for (const src of srcs) {
            if (/[*?[]/.test(src)) throw new Error(`Dockerfile line ${step.line}: globs in COPY are not replayed`);
            if (from !== undefined) {
              const source = hostPath(from, posix.resolve('/', src));
              if (!existsSync(source)) throw new Error(`Dockerfile line ${step.line}: COPY --from=${from} ${src}: not found in that stage`);
              const target = statSync(source).isDirectory() || !destIsDir ? dest : join(dest, posix.basename(src));
              cpSync(source, target, { recursive: true });
            } else {
              const rel = posix.normalize(src).replace(/^(\.\/)+/, '').replace(/\/+$/, '');
              const selected = [...files].filter((f) => rel === '.' || f === rel || f.startsWith(`${rel}/`));
              if (selected.length === 0) throw new Error(`Dockerfile line ${step.line}: COPY ${src}: not in the build context (missing, or excluded by .dockerignore)`);
              for (const f of selected) {
                const inside = f === rel ? (destIsDir ? posix.basename(f) : '') : rel === '.' ? f : f.slice(rel.length + 1);
                const target = inside ? join(dest, inside) : dest;
                mkdirSync(dirname(target), { recursive: true });
                cpSync(join(context, f), target);
              }
            }
          }
          break;
        }
        case 'RUN': {
          const cwd = hostPath(stage.name, workdir);
          const r = spawnSync('/bin/sh', ['-c', step.content], {
            cwd,
            env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env, ...opts.runEnv },
            encoding: 'utf8',
            maxBuffer: 64 * 2 ** 20,
          });
          if (r.status !== 0) {
            throw new Error(`Dockerfile line ${step.line}: RUN ${step.content}\nexited ${r.status ?? r.signal}\n${(r.stdout ?? '').slice(-3000)}\n${(r.stderr ?? '').slice(-3000)}`);
          }
          break;
        }
        case 'ARG':
        case 'USER':
        case 'EXPOSE':
        case 'HEALTHCHECK':
        case 'STOPSIGNAL':
        case 'ENTRYPOINT':
        case 'CMD':
        case 'LABEL':
          break; // metadata: read by the caller from the Stage
        default:
          throw new Error(`Dockerfile line ${step.line}: the replay does not know ${step.keyword}`);
      }
    }
  }
  return { stageRoot, hostPath };
}

/** uid/gid of a USER value given numerically ("1000" or "1000:1000"). */
export function numericUser(user: string | undefined): { uid: number; gid: number } | undefined {
  const m = /^(\d+)(?::(\d+))?$/.exec(user ?? '');
  if (!m) return undefined;
  return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
}
