// The closed model's own connection (src/loadtest/connection.ts) against real sockets: body
// framings, keep-alive reuse and reconnects, and every way an exchange can fail.
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { ConnectionSlot } from '../../src/loadtest/connection.js';
import type { Slot, SlotOwner, Target } from '../../src/loadtest/slot.js';
import { json, startServer } from './helpers.js';

interface Outcome { status: number; kind: string | null; bytes: number }

/** Sends `n` requests one after another through one ConnectionSlot; resolves with each outcome. */
function exchange(target: Target, n: number, body: Buffer | null = Buffer.from('{"x":1}')): Promise<{ outcomes: Outcome[]; slot: ConnectionSlot }> {
  return new Promise((resolve) => {
    const outcomes: Outcome[] = [];
    const owner: SlotOwner = {
      onSlotDone(s: Slot, status: number, kind: string | null) {
        outcomes.push({ status, kind, bytes: s.bytes });
        if (outcomes.length < n) s.send(body, performance.now());
        else resolve({ outcomes, slot });
      },
    };
    const slot = new ConnectionSlot(target, owner);
    slot.send(body, performance.now());
  });
}

const target = (origin: string, extra: Partial<Target> = {}): Target => ({ origin, method: 'POST', path: '/predict', headers: { 'content-type': 'application/json' }, timeoutMs: 2000, ...extra });

test('keep-alive: many requests on one connection; the request carries the method, path, headers and body', async () => {
  const seen: string[] = [];
  const sockets = new Set<unknown>();
  const server = await startServer((req, res, body) => {
    sockets.add(req.socket);
    seen.push(`${req.method} ${req.url} ${req.headers['content-type']} ${req.headers['content-length']} ${body.toString()}`);
    json(res, 200, { ok: true });
  });
  try {
    const { outcomes, slot } = await exchange(target(server.url), 20);
    slot.close();
    assert.equal(outcomes.length, 20);
    assert.ok(outcomes.every((o) => o.status === 200 && o.kind === null && o.bytes === 11));
    assert.equal(sockets.size, 1, 'one keep-alive connection');
    assert.equal(seen[0], 'POST /predict application/json 7 {"x":1}');
  } finally {
    await server.close();
  }
});

test('chunked bodies, error statuses and a GET without a body are read to their end', async () => {
  const server = await startServer((req, res) => {
    if (req.method === 'GET') { res.writeHead(404); res.end('nope'); return; }
    res.writeHead(503, { 'content-type': 'text/plain' }); // no content-length: chunked
    res.write('over');
    setTimeout(() => res.end('loaded'), 5);
  });
  try {
    const a = await exchange(target(server.url), 3);
    a.slot.close();
    assert.deepEqual(a.outcomes.map((o) => [o.status, o.bytes]), [[503, 10], [503, 10], [503, 10]]);
    const b = await exchange(target(server.url, { method: 'GET', headers: {} }), 2, null);
    b.slot.close();
    assert.deepEqual(b.outcomes.map((o) => [o.status, o.bytes]), [[404, 4], [404, 4]]);
  } finally {
    await server.close();
  }
});

test('Connection: close from the server: the answer counts, the next request opens a new connection', async () => {
  const sockets = new Set<unknown>();
  const server = await startServer((req, res) => {
    sockets.add(req.socket);
    res.setHeader('connection', 'close');
    json(res, 200, { ok: true });
  });
  try {
    const { outcomes, slot } = await exchange(target(server.url), 4);
    slot.close();
    assert.ok(outcomes.every((o) => o.status === 200 && o.kind === null));
    assert.equal(sockets.size, 4);
  } finally {
    await server.close();
  }
});

/** A raw TCP server that does `onData` with each connection's first bytes. */
async function rawServer(onData: (socket: net.Socket) => void): Promise<{ origin: string; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => { sockets.add(s); s.once('data', () => onData(s)); s.on('error', () => {}); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

test('failures by kind: cut-off answer (socket), garbage (protocol), no answer (timeout), refused (connect)', async () => {
  const cut = await rawServer((s) => { s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial'); setTimeout(() => s.destroy(), 5); });
  const garbage = await rawServer((s) => { s.write('SPDY/9 what\r\n\r\n'); });
  const silent = await rawServer(() => {});
  try {
    const a = await exchange(target(cut.origin), 2);
    a.slot.close();
    assert.deepEqual(a.outcomes.map((o) => [o.status, o.kind]), [[0, 'socket'], [0, 'socket']], 'and the second request reconnected');
    const b = await exchange(target(garbage.origin), 1);
    b.slot.close();
    assert.equal(b.outcomes[0]!.status, 0);
    assert.equal(b.outcomes[0]!.kind, 'protocol');
    const t0 = performance.now();
    const c = await exchange(target(silent.origin, { timeoutMs: 150 }), 1);
    c.slot.close();
    assert.deepEqual(c.outcomes.map((o) => [o.status, o.kind]), [[0, 'timeout']]);
    assert.ok(performance.now() - t0 >= 140, 'not before the timeout');
  } finally {
    await Promise.all([cut.close(), garbage.close(), silent.close()]);
  }
  const closed = await rawServer(() => {});
  const origin = closed.origin;
  await closed.close();
  const d = await exchange(target(origin), 1);
  d.slot.close();
  assert.deepEqual(d.outcomes.map((o) => [o.status, o.kind]), [[0, 'connect']]);
});

test('answers whole in one read and answers split over reads alternate on one connection', async () => {
  // Request i gets: whole (one write), split (head, then body 10 ms later), chunked in two writes,
  // whole again, then a HEAD-free whole 500 — the fast path and http-parser-js hand over cleanly.
  const answers: Array<(s: net.Socket) => void> = [
    (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst'),
    (s) => { s.write('HTTP/1.1 201 Created\r\nContent-Length: 6\r\n\r\n'); setTimeout(() => s.write('second'), 10); },
    (s) => { s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nthird\r\n'); setTimeout(() => s.write('0\r\n\r\n'), 10); },
    (s) => s.write('HTTP/1.1 202 Accepted\r\ncontent-length: 6\r\n\r\nfourth'),
    (s) => s.write('HTTP/1.1 500 Internal Server Error\r\ncontent-length: 5\r\n\r\nfifth'),
  ];
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    let i = 0;
    s.on('data', () => { answers[i++]?.(s); });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { outcomes, slot } = await exchange(target(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), answers.length);
    slot.close();
    assert.deepEqual(outcomes, [
      { status: 200, kind: null, bytes: 5 },
      { status: 201, kind: null, bytes: 6 },
      { status: 200, kind: null, bytes: 5 },
      { status: 202, kind: null, bytes: 6 },
      { status: 500, kind: null, bytes: 5 },
    ]);
    assert.equal(connections, 1, 'all on one keep-alive connection');
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('HEAD: the Content-Length describes no body, and the next answer follows at once', async () => {
  const server = await rawServer((s) => {
    s.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n');
    s.on('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n'));
  });
  try {
    const { outcomes, slot } = await exchange(target(server.origin, { method: 'HEAD' }), 3, null);
    slot.close();
    assert.deepEqual(outcomes, Array(3).fill({ status: 200, kind: null, bytes: 0 }));
  } finally {
    await server.close();
  }
});

test('a request larger than the socket takes at once arrives whole and in order (the rest goes through the stream)', async () => {
  const body = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
  const received: Buffer[] = [];
  const server = net.createServer((s) => {
    s.pause(); // let the client's send buffer fill first
    setTimeout(() => s.resume(), 50);
    let buf = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const head = buf.indexOf('\r\n\r\n');
      if (head < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(buf.subarray(0, head).toString('latin1'))?.[1]);
      if (buf.length < head + 4 + length) return;
      received.push(buf.subarray(head + 4, head + 4 + length));
      buf = buf.subarray(head + 4 + length);
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { outcomes, slot } = await exchange(target(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { timeoutMs: 10_000 }), 2, body);
    slot.close();
    assert.deepEqual(outcomes, Array(2).fill({ status: 200, kind: null, bytes: 2 }));
    assert.equal(received.length, 2);
    for (const r of received) assert.ok(r.equals(body), 'the body arrived byte for byte');
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('a body delimited by the connection closing completes at the close; the next request reconnects', async () => {
  let connections = 0;
  const server = await rawServer((s) => {
    connections++;
    s.write('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil-');
    setTimeout(() => s.end('eof'), 10);
  });
  try {
    const { outcomes, slot } = await exchange(target(server.origin), 2);
    slot.close();
    assert.deepEqual(outcomes, Array(2).fill({ status: 200, kind: null, bytes: 9 }));
    assert.equal(connections, 2);
  } finally {
    await server.close();
  }
});

/** A raw server that answers every read (one request each, on a keep-alive connection) with `answer`. */
async function everyRead(answer: (socket: net.Socket) => void): Promise<{ origin: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((s) => { connections++; sockets.add(s); s.on('data', () => answer(s)); s.on('error', () => {}); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

test('interim 1xx answers (100 Continue, 103 Early Hints) are read past to the final answer; a 1xx alone is no answer; an unasked 101 is a protocol error', async () => {
  const final = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}';
  // In one read with the final answer, and in a read of its own before it.
  const together = await everyRead((s) => s.write(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n${final}`));
  const apart = await everyRead((s) => { s.write('HTTP/1.1 100 Continue\r\n\r\n'); setTimeout(() => s.write(final), 10); });
  const only = await everyRead((s) => s.write('HTTP/1.1 103 Early Hints\r\n\r\n'));
  const upgrade = await everyRead((s) => s.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n'));
  try {
    for (const server of [together, apart]) {
      const { outcomes, slot } = await exchange(target(server.origin), 3);
      slot.close();
      // Was: 100 counted as the answer (a success), and the real 200 misread as the next request's.
      assert.deepEqual(outcomes, Array(3).fill({ status: 200, kind: null, bytes: 2 }));
    }
    const a = await exchange(target(only.origin, { timeoutMs: 150 }), 1);
    a.slot.close();
    assert.deepEqual(a.outcomes.map((o) => [o.status, o.kind]), [[0, 'timeout']], 'was: 103 counted as a successful answer');
    const b = await exchange(target(upgrade.origin), 1);
    b.slot.close();
    assert.deepEqual(b.outcomes.map((o) => [o.status, o.kind]), [[0, 'protocol']]);
  } finally {
    await Promise.all([together.close(), apart.close(), only.close(), upgrade.close()]);
  }
});

test('a malformed chunk size or Content-Length is a protocol error, not a success (a chunk size "ZZ" ended the body as a clean 200)', async () => {
  const answers = [
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n',
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5zz\r\nhello\r\n0\r\n\r\n',
    'HTTP/1.1 200 OK\r\ncontent-length: abc\r\n\r\n{}',
    'HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n{}',
  ];
  for (const answer of answers) {
    const server = await everyRead((s) => s.write(answer));
    try {
      const { outcomes, slot } = await exchange(target(server.origin, { timeoutMs: 1000 }), 2);
      slot.close();
      assert.deepEqual(outcomes.map((o) => [o.status, o.kind]), [[0, 'protocol'], [0, 'protocol']], JSON.stringify(answer));
    } finally {
      await server.close();
    }
  }
  // Chunk extensions and a size split over reads are still read.
  const ok = await everyRead((s) => { s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1'); setTimeout(() => s.write('0;ext=1\r\n0123456789abcdef\r\n0\r\n\r\n'), 10); });
  try {
    const { outcomes, slot } = await exchange(target(ok.origin), 2);
    slot.close();
    assert.deepEqual(outcomes, Array(2).fill({ status: 200, kind: null, bytes: 16 }));
  } finally {
    await ok.close();
  }
});

test('bytes past an answer on a keep-alive connection are a protocol error that closes it (they were read as the next answer)', async () => {
  const answers = [
    // garbage past the Content-Length, in the answer's read and in a read of the body
    (s: net.Socket) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}GARBAGE'),
    (s: net.Socket) => { s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n'); setTimeout(() => s.write('{}GARBAGE'), 10); },
    // a second answer nobody asked for: was counted as the next request's (a 500 here)
    (s: net.Socket) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 500 Oops\r\ncontent-length: 0\r\n\r\n'),
    // a 204 has no body, whatever its Content-Length says
    (s: net.Socket) => s.write('HTTP/1.1 204 No Content\r\ncontent-length: 2\r\n\r\n{}'),
  ];
  for (const answer of answers) {
    const server = await everyRead(answer);
    try {
      const { outcomes, slot } = await exchange(target(server.origin, { timeoutMs: 1000 }), 3);
      slot.close();
      assert.deepEqual(outcomes.map((o) => [o.status, o.kind]), Array(3).fill([0, 'protocol']), answer.toString());
      assert.equal(server.connections(), 3, 'each failed exchange closed its connection');
    } finally {
      await server.close();
    }
  }
  // Past a close-delimited connection's answer nothing is misread: the answer counts.
  const closing = await everyRead((s) => s.end('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}junk'));
  try {
    const { outcomes, slot } = await exchange(target(closing.origin), 2);
    slot.close();
    assert.deepEqual(outcomes.map((o) => [o.status, o.kind]), [[200, null], [200, null]]);
  } finally {
    await closing.close();
  }
});

test('bytes a server sends between requests (nothing asked) drop the connection; the next request gets its own answer on a new one', async () => {
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    s.on('data', () => {
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}');
      // Half an answer, unasked, while the client waits before its next request: was kept, and the
      // next answer read after it ('HTTP/1.1 408 …content-HTTP/1.1 200 OK' is no answer).
      setTimeout(() => { if (!s.destroyed) s.write('HTTP/1.1 408 Request Timeout\r\ncontent-'); }, 5);
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const outcomes = await new Promise<Outcome[]>((resolve) => {
      const out: Outcome[] = [];
      const slot = new ConnectionSlot(target(origin, { timeoutMs: 1000 }), {
        onSlotDone(s: Slot, status: number, kind: string | null) {
          out.push({ status, kind, bytes: s.bytes });
          if (out.length === 3) { slot.close(); resolve(out); return; }
          setTimeout(() => s.send(Buffer.from('{}'), performance.now()), 50);
        },
      });
      slot.send(Buffer.from('{}'), performance.now());
    });
    assert.deepEqual(outcomes, Array(3).fill({ status: 200, kind: null, bytes: 2 }));
    assert.equal(connections, 3, 'each unasked answer closed its connection');
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('a 304 carries no body whatever its Content-Length says (it timed out waiting for one); a 204 without one is read at once', async () => {
  const notModified = await everyRead((s) => s.write('HTTP/1.1 304 Not Modified\r\ncontent-length: 20\r\netag: "x"\r\n\r\n'));
  const noContent = await everyRead((s) => s.write('HTTP/1.1 204 No Content\r\n\r\n'));
  try {
    const a = await exchange(target(notModified.origin, { timeoutMs: 1000 }), 3);
    a.slot.close();
    assert.deepEqual(a.outcomes, Array(3).fill({ status: 304, kind: null, bytes: 0 }));
    const b = await exchange(target(noContent.origin, { timeoutMs: 1000 }), 3);
    b.slot.close();
    assert.deepEqual(b.outcomes, Array(3).fill({ status: 204, kind: null, bytes: 0 }));
  } finally {
    await Promise.all([notModified.close(), noContent.close()]);
  }
});

test('a 2xx whose Content-Type says JSON with a body that is not JSON is reported (invalid-json), however it is framed; other answers are not checked', async () => {
  const json = 'content-type: application/json';
  const answers: Array<[string, (s: net.Socket) => void, number, string | null]> = [
    ['valid, one read', (s) => s.write(`HTTP/1.1 200 OK\r\n${json}\r\ncontent-length: 8\r\n\r\n{"a":[]}`), 200, null],
    ['HTML, one read', (s) => s.write(`HTTP/1.1 200 OK\r\n${json}\r\ncontent-length: 13\r\n\r\n<html></html>`), 200, 'invalid-json'],
    ['cut JSON, split over reads', (s) => { s.write(`HTTP/1.1 200 OK\r\n${json}\r\ncontent-length: 6\r\n\r\n{"a"`); setTimeout(() => s.write(':1'), 10); }, 200, 'invalid-json'],
    ['valid, chunked', (s) => s.write(`HTTP/1.1 201 Created\r\ncontent-type: application/problem+json\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n`), 201, null],
    ['empty, declared JSON', (s) => s.write(`HTTP/1.1 200 OK\r\n${json}\r\ncontent-length: 0\r\n\r\n`), 200, 'invalid-json'],
    ['text, not declared JSON', (s) => s.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello'), 200, null],
    ['an error status (already a failure)', (s) => s.write(`HTTP/1.1 502 Bad Gateway\r\n${json}\r\ncontent-length: 7\r\n\r\n<html/>`), 502, null],
  ];
  for (const [name, answer, status, kind] of answers) {
    const server = await everyRead(answer);
    try {
      const seen = await new Promise<Array<[number, string | null]>>((resolve) => {
        const out: Array<[number, string | null]> = [];
        const slot = new ConnectionSlot(target(server.origin), {
          onSlotDone(s: Slot, st: number, k: string | null) {
            // As the closed model does with no wait: the next request goes out before the check.
            if (out.length < 1) s.send(Buffer.from('{}'), performance.now());
            out.push([st, k ?? s.bodyError()]);
            if (out.length === 2) { slot.close(); resolve(out); }
          },
        });
        slot.send(Buffer.from('{}'), performance.now());
      });
      assert.deepEqual(seen, [[status, kind], [status, kind]], name);
    } finally {
      await server.close();
    }
  }
});

/**
 * A real node:http server with a short keepAliveTimeout, in a worker thread: the main thread can
 * then block (as a busy generator does) while the server closes the idle connection, and write
 * the next request before it has read the close. `closes()` blocks until the server has closed
 * `n` connections in all (no timing guess: the server says when).
 */
async function idleClosingServer(): Promise<{ origin: string; closes: (n: number) => void; stop: () => Promise<number> }> {
  const { Worker } = await import('node:worker_threads');
  const shared = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(`
    const { workerData, parentPort } = require('node:worker_threads');
    const http = require('node:http');
    const closed = workerData;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }); res.end('{}'); });
    });
    server.keepAliveTimeout = 20;
    server.on('connection', (s) => s.on('close', () => { Atomics.add(closed, 0, 1); Atomics.notify(closed, 0); }));
    server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
    parentPort.on('message', () => server.close(() => process.exit(0)));
  `, { eval: true, workerData: shared });
  const port = await new Promise<number>((resolve) => worker.once('message', resolve));
  return {
    origin: `http://127.0.0.1:${port}`,
    closes: (n) => {
      for (let c = Atomics.load(shared, 0); c < n; c = Atomics.load(shared, 0)) {
        // A safety net, not a measure: the server closes after 20 ms idle.
        assert.notEqual(Atomics.wait(shared, 0, c, 10_000), 'timed-out', 'the server did not close its idle connection');
      }
    },
    stop: async () => { const exited = new Promise<number>((r) => worker.once('exit', r)); worker.postMessage('stop'); return exited; },
  };
}

test('a server that closes an idle keep-alive connection as the next request is written (its keepAliveTimeout): the request is resent once on a new connection, counted as a retry, not a socket error', async () => {
  const server = await idleClosingServer();
  try {
    const outcomes: Outcome[] = [];
    const slot = await new Promise<ConnectionSlot>((resolve) => {
      let closed = 0;
      const s: ConnectionSlot = new ConnectionSlot(target(server.origin), {
        onSlotDone(sl: Slot, status: number, kind: string | null) {
          outcomes.push({ status, kind, bytes: sl.bytes });
          if (outcomes.length === 4) { resolve(s); return; }
          // Block until the server has closed this connection, idle, then write at once: the
          // close has not been read, so the request goes to the closed connection (was: socket,
          // and that connection was gone: the next request opened a new one at once).
          if (status === 200) server.closes(++closed);
          sl.send(Buffer.from('{}'), performance.now());
        },
      });
      s.send(Buffer.from('{}'), performance.now());
    });
    slot.close();
    assert.deepEqual(outcomes, Array(4).fill({ status: 200, kind: null, bytes: 2 }));
    assert.equal(slot.retries, 3);
  } finally {
    await server.stop();
  }
});

test('resent at most once, and only on a connection that answered before and closed before any byte of the answer', async () => {
  // Answers the first request of each connection; closes it, unread, at the second.
  const once = net.createServer((s) => {
    let n = 0;
    s.on('error', () => undefined);
    s.on('data', () => { if (n++ === 0) s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}'); else s.destroy(); });
  });
  // Closes every connection unanswered: a fresh connection's loss is the server's failure.
  const never = net.createServer((s) => { s.on('error', () => undefined); s.on('data', () => s.destroy()); });
  // Closes the second request's connection after a byte of its answer: read, so not resent.
  const cut = net.createServer((s) => {
    let n = 0;
    s.on('error', () => undefined);
    s.on('data', () => { if (n++ === 0) s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}'); else s.end('HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{"a"'); });
  });
  const origins = await Promise.all([once, never, cut].map(async (srv) => { await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r)); return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`; }));
  try {
    const a = await exchange(target(origins[0]!), 3);
    a.slot.close();
    assert.deepEqual(a.outcomes.map((o) => [o.status, o.kind]), [[200, null], [200, null], [200, null]]);
    assert.equal(a.slot.retries, 2, 'each second request resent once, answered first on a new connection');
    const b = await exchange(target(origins[1]!), 2);
    b.slot.close();
    assert.deepEqual(b.outcomes.map((o) => [o.status, o.kind]), [[0, 'socket'], [0, 'socket']]);
    assert.equal(b.slot.retries, 0);
    const c = await exchange(target(origins[2]!), 2);
    c.slot.close();
    assert.deepEqual(c.outcomes.map((o) => [o.status, o.kind]), [[200, null], [0, 'socket']]);
    assert.equal(c.slot.retries, 0);
  } finally {
    for (const srv of [once, never, cut]) srv.close();
  }
});
