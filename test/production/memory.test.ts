// Bounded memory under large requests (issue #19): the real CLI serving the book's SVM, one
// worker, fed 5,000-row requests. onnxruntime keeps the memory of the largest run's intermediates
// (its arena); without --max-run-rows one 5,000-row run of this SVM grew RSS by ~560 MB. With the
// default (256-row runs) the first large requests may add tens of MB and later ones little.
// Numbers are RSS (/proc/<pid>/status) relative to the same run's own earlier values, with wide
// margins; no timing. Open file descriptors must not grow either.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { bookRows, writeBookModelFolder } from '../helpers/paths.js';
import { startServe } from '../helpers/serve.js';

const MiB = 2 ** 20;

function rssOf(pid: number): number {
  return Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
}

function fdsOf(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

test('5,000-row requests: RSS grows < 200 MiB over idle in the first three, < 120 MiB over the next 30; open fds do not grow', { timeout: 120_000 }, async (t) => {
  const dir = writeBookModelFolder(undefined, 'queue: { max_rows: 100000, timeout_ms: 60000 }\n');
  const server = startServe([dir, '--port', '0', '--grpc-port', '0', '--workers', '1', '--log-level', 'warn']);
  t.after(server.kill);
  const url = await server.url;
  const pid = server.child.pid!;
  const source = bookRows(1000);
  const large = JSON.stringify(Array.from({ length: 5000 }, (_, i) => source[i % source.length]));
  const send = async (body: string, rows: number) => {
    const res = await fetch(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await res.text();
    assert.equal(res.status, 200, text.slice(0, 300));
    assert.equal((JSON.parse(text) as unknown[]).length, rows);
  };
  await send(JSON.stringify([source[0]]), 1);
  const idle = rssOf(pid);
  for (let i = 0; i < 3; i++) await send(large, 5000);
  const warm = rssOf(pid);
  const warmFds = fdsOf(pid);
  for (let i = 0; i < 30; i++) await send(large, 5000);
  const end = rssOf(pid);
  const endFds = fdsOf(pid);
  t.diagnostic(`RSS idle ${(idle / MiB).toFixed(0)} MiB, after 3 large ${(warm / MiB).toFixed(0)} MiB, after 33 ${(end / MiB).toFixed(0)} MiB; fds ${warmFds} -> ${endFds}`);
  assert.ok(warm - idle < 200 * MiB, `the first 5,000-row requests grew RSS by ${((warm - idle) / MiB).toFixed(0)} MiB (onnxruntime's intermediates not bounded by --max-run-rows?)`);
  assert.ok(end - warm < 120 * MiB, `30 more 5,000-row requests grew RSS by ${((end - warm) / MiB).toFixed(0)} MiB`);
  assert.ok(endFds <= warmFds + 1, `open fds grew from ${warmFds} to ${endFds}`);
  server.child.kill('SIGTERM');
  await server.exited;
});
