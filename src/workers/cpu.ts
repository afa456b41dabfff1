// How many CPUs this process may really use: the cgroup CPU quota (containers, Kubernetes limits)
// when there is one, else os.availableParallelism() (which already honours CPU affinity).
// The parsers are pure functions over file contents so they can be tested with fixture strings.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** cgroup v2 `cpu.max` ("<quota> <period>" or "max <period>") -> CPUs, or undefined when unlimited/unparsable. */
export function parseCpuMax(content: string): number | undefined {
  const [quota, period] = content.trim().split(/\s+/);
  if (quota === undefined || quota === 'max') return undefined;
  return ratio(quota, period ?? '100000');
}

/** cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` -> CPUs, or undefined when unlimited (-1)/unparsable. */
export function parseCfsQuota(quotaContent: string, periodContent: string): number | undefined {
  return ratio(quotaContent.trim(), periodContent.trim());
}

function ratio(quota: string, period: string): number | undefined {
  if (!/^\d+$/.test(quota) || !/^\d+$/.test(period)) return undefined;
  const q = Number(quota);
  const p = Number(period);
  if (q <= 0 || p <= 0) return undefined;
  return q / p;
}

/**
 * The cgroup paths of this process from /proc/self/cgroup: `v2` is the unified hierarchy's path
 * ("0::/path"), `v1cpu` the path of the hierarchy that has the cpu controller.
 */
export function parseProcCgroup(content: string): { v2?: string; v1cpu?: string } {
  const out: { v2?: string; v1cpu?: string } = {};
  for (const line of content.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (m === null) continue;
    const [, id, controllers, path] = m;
    if (id === '0' && controllers === '') out.v2 = path;
    else if (controllers.split(',').includes('cpu')) out.v1cpu = path;
  }
  return out;
}

type ReadText = (path: string) => string | undefined;

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

function joinPath(root: string, sub: string | undefined): string[] {
  const roots = [root];
  if (sub !== undefined && sub !== '/' && sub !== '') roots.unshift(`${root}${sub}`);
  return roots;
}

/**
 * The CPU quota of this process's cgroup (v2 first, then v1), in CPUs, or undefined if none.
 * Looks in the process's own cgroup directory, then at the mount root (what a container sees).
 */
export function cgroupCpuLimit(read: ReadText = readText): number | undefined {
  const self = parseProcCgroup(read('/proc/self/cgroup') ?? '');
  for (const dir of joinPath('/sys/fs/cgroup', self.v2)) {
    const content = read(`${dir}/cpu.max`);
    if (content !== undefined) {
      const cpus = parseCpuMax(content);
      if (cpus !== undefined) return cpus;
    }
  }
  for (const mount of ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct']) {
    for (const dir of joinPath(mount, self.v1cpu)) {
      const quota = read(`${dir}/cpu.cfs_quota_us`);
      const period = read(`${dir}/cpu.cfs_period_us`);
      if (quota !== undefined && period !== undefined) {
        const cpus = parseCfsQuota(quota, period);
        if (cpus !== undefined) return cpus;
      }
    }
  }
  return undefined;
}

/** Worker count from a CPU limit (fractional quotas round down) and the visible CPUs; at least 1. */
export function workerCountFor(limit: number | undefined, visibleCpus: number): number {
  const visible = Math.max(1, Math.floor(visibleCpus));
  if (limit === undefined) return visible;
  return Math.max(1, Math.min(visible, Math.floor(limit)));
}

/** The default number of pool workers: the cgroup CPU quota, else os.availableParallelism(); at least 1. */
export function defaultWorkerCount(): number {
  return workerCountFor(cgroupCpuLimit(), availableParallelism());
}

/**
 * onnxruntime intra-op threads per worker so that workers × threads never exceeds the CPUs:
 * floor(cpus / workers), at least 1 (so 1 when workers >= cpus).
 */
export function threadsPerWorker(workers: number, cpus: number): number {
  return Math.max(1, Math.floor(Math.max(1, cpus) / Math.max(1, workers)));
}
