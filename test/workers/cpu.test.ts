import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { cgroupCpuLimit, defaultWorkerCount, parseCfsQuota, parseCpuMax, parseProcCgroup, threadsPerWorker, workerCountFor } from '../../src/workers/cpu.js';

test('cgroup v2 cpu.max parsing', () => {
  assert.equal(parseCpuMax('max 100000\n'), undefined);
  assert.equal(parseCpuMax('200000 100000\n'), 2);
  assert.equal(parseCpuMax('150000 100000'), 1.5);
  assert.equal(parseCpuMax('50000 100000\n'), 0.5);
  assert.equal(parseCpuMax('400000'), 4, 'period defaults to 100000');
  assert.equal(parseCpuMax(''), undefined);
  assert.equal(parseCpuMax('garbage 100000'), undefined);
  assert.equal(parseCpuMax('100000 0'), undefined);
});

test('cgroup v1 cfs quota parsing', () => {
  assert.equal(parseCfsQuota('-1\n', '100000\n'), undefined);
  assert.equal(parseCfsQuota('300000\n', '100000\n'), 3);
  assert.equal(parseCfsQuota('25000', '50000'), 0.5);
  assert.equal(parseCfsQuota('', '100000'), undefined);
});

test('/proc/self/cgroup parsing finds the v2 path and the v1 cpu hierarchy', () => {
  assert.deepEqual(parseProcCgroup('0::/kubepods/pod1/abc\n'), { v2: '/kubepods/pod1/abc' });
  assert.deepEqual(parseProcCgroup('12:memory:/docker/x\n4:cpu,cpuacct:/docker/x\n0::/\n'), { v1cpu: '/docker/x', v2: '/' });
  assert.deepEqual(parseProcCgroup(''), {});
});

test('cgroupCpuLimit reads v2 in the own cgroup, then the root, then v1', () => {
  const files = (map: Record<string, string>) => (p: string) => map[p];
  assert.equal(cgroupCpuLimit(files({ '/proc/self/cgroup': '0::/app\n', '/sys/fs/cgroup/app/cpu.max': '300000 100000\n', '/sys/fs/cgroup/cpu.max': 'max 100000' })), 3);
  assert.equal(cgroupCpuLimit(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '200000 100000\n' })), 2);
  assert.equal(cgroupCpuLimit(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': 'max 100000\n' })), undefined);
  assert.equal(
    cgroupCpuLimit(files({ '/proc/self/cgroup': '3:cpu,cpuacct:/\n', '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '150000', '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000' })),
    1.5,
  );
  assert.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' })), undefined);
  assert.equal(cgroupCpuLimit(files({})), undefined);
});

test('worker count: quota rounds down, capped by visible CPUs, at least 1', () => {
  assert.equal(workerCountFor(undefined, 8), 8);
  assert.equal(workerCountFor(2, 8), 2);
  assert.equal(workerCountFor(1.5, 8), 1);
  assert.equal(workerCountFor(0.5, 8), 1);
  assert.equal(workerCountFor(16, 4), 4);
  assert.equal(workerCountFor(undefined, 0), 1);
  const n = defaultWorkerCount();
  assert.ok(Number.isInteger(n) && n >= 1 && n <= availableParallelism());
});

test('threadsPerWorker keeps workers × threads within the CPUs', () => {
  assert.equal(threadsPerWorker(4, 4), 1);
  assert.equal(threadsPerWorker(2, 8), 4);
  assert.equal(threadsPerWorker(3, 8), 2);
  assert.equal(threadsPerWorker(8, 2), 1);
  assert.equal(threadsPerWorker(1, 1), 1);
  for (let w = 1; w <= 16; w++) for (let c = 1; c <= 16; c++) if (w <= c) assert.ok(w * threadsPerWorker(w, c) <= c);
});
