// GET /dashboard: a live view of what the server predicts, per model and version — requests/s,
// errors by status, latency percentiles, batch sizes, queue depth, the distribution of predictions
// and the latest ones (redacted). The page and its assets (uPlot from node_modules, the page's own
// script) are served from here, so it works offline; the data comes as server-sent events over a
// fetch() stream (so it can carry an Authorization header: /dashboard/events and /dashboard/stats
// are protected like /metrics when auth is on; the page itself holds no data and is open).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import type { InferenceCore } from '../../core/core.js';
import type { Metrics } from '../../metrics/metrics.js';
import { LiveStats } from '../../dashboard/live-stats.js';
import { DASHBOARD_HTML, DASHBOARD_JS, DASHBOARD_CSS } from '../../dashboard/page.js';
import { DOCS_CSP } from '../plugins/security-headers.js';
import { sendError } from '../errors.js';

/** Past this much unsent data on a dashboard stream, its frames are skipped (a frame is ~10 KB). */
const MAX_BUFFERED_BYTES = 256 * 1024;
/** Open streams kept at once: each may hold MAX_BUFFERED_BYTES, so this bounds their memory (~26 MB). */
export const MAX_STREAMS = 100;

export interface DashboardOptions {
  core: () => InferenceCore | undefined;
  metrics: Metrics | undefined;
  redact: readonly string[];
  /** How often open dashboards get a snapshot, ms (default 500). */
  intervalMs?: number;
}

const require = createRequire(import.meta.url);
const UPLOT_DIR = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
let uplot: { js: string; css: string } | undefined;
const uplotAssets = () => (uplot ??= { js: readFileSync(join(UPLOT_DIR, 'uPlot.iife.min.js'), 'utf8'), css: readFileSync(join(UPLOT_DIR, 'uPlot.min.css'), 'utf8') });

export const dashboardRoutes: FastifyPluginAsync<DashboardOptions> = async (app, options) => {
  const stats = new LiveStats(options.core, options.metrics?.registry, options.redact);
  const clients = new Set<ServerResponse>();
  let timer: NodeJS.Timeout | undefined;
  let removeObserver: (() => void) | undefined;

  app.addHook('onReady', async () => {
    removeObserver = options.core()?.predictions.add(stats.observe);
    options.core()?.on('event', stats.onCoreEvent);
    stats.startRates();
  });
  const endAll = () => {
    for (const res of clients) res.end();
    clients.clear();
    if (timer) clearInterval(timer);
    timer = undefined;
  };
  // Open streams would hold the drain: they end as soon as the service drains, and before close.
  app.addHook('preClose', async () => endAll());
  app.addHook('onClose', async () => { endAll(); removeObserver?.(); options.core()?.off('event', stats.onCoreEvent); stats.stop(); });

  const tick = async () => {
    const state = options.core()?.state;
    if (state === 'draining' || state === 'closed') return endAll();
    if (clients.size === 0) return;
    const frame = `data: ${JSON.stringify(await stats.snapshot())}\n\n`;
    // A client that does not read (a paused tab, a stalled proxy) skips frames rather than have
    // them pile up in this process: it gets the next one once it has caught up.
    for (const res of clients) if (res.writableLength <= MAX_BUFFERED_BYTES) res.write(frame);
  };

  const page = (type: string, body: () => string, cache = false) => async (_request: unknown, reply: import('fastify').FastifyReply) => {
    reply.header('content-security-policy', DOCS_CSP).header('cache-control', cache ? 'public, max-age=3600' : 'no-store').type(type);
    return body();
  };
  app.get('/dashboard', { schema: { hide: true } }, page('text/html; charset=utf-8', () => DASHBOARD_HTML));
  app.get('/dashboard/assets/dashboard.js', { schema: { hide: true } }, page('text/javascript; charset=utf-8', () => DASHBOARD_JS));
  app.get('/dashboard/assets/dashboard.css', { schema: { hide: true } }, page('text/css; charset=utf-8', () => DASHBOARD_CSS));
  app.get('/dashboard/assets/uPlot.min.js', { schema: { hide: true } }, page('text/javascript; charset=utf-8', () => uplotAssets().js, true));
  app.get('/dashboard/assets/uPlot.min.css', { schema: { hide: true } }, page('text/css; charset=utf-8', () => uplotAssets().css, true));

  app.get('/dashboard/stats', { schema: { hide: true } }, async () => stats.snapshot());
  app.get('/dashboard/events', { schema: { hide: true } }, (request, reply) => {
    if (clients.size >= MAX_STREAMS && request.method !== 'HEAD') {
      return sendError(reply, 'MS_ERR_TOO_MANY_STREAMS', `${MAX_STREAMS} dashboard streams are open, the most this server keeps; close one, or poll GET /dashboard/stats`, { 'retry-after': '5' });
    }
    reply.hijack();
    const res = reply.raw;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(reply.getHeaders())) if (typeof v === 'string') headers[k] = v;
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    // HEAD (Fastify's automatic one of this GET): the headers only. Node writes nothing of a HEAD
    // answer before end(), so a stream would leave the client waiting and the connection stuck.
    if (request.method === 'HEAD') return void res.end();
    res.write(': modelserve dashboard\n\n');
    clients.add(res);
    request.raw.once('close', () => clients.delete(res));
    timer ??= setInterval(() => { void tick(); }, options.intervalMs ?? 500);
    // The first frame at once, not after a tick.
    void stats.snapshot().then((s) => { if (clients.has(res)) res.write(`data: ${JSON.stringify(s)}\n\n`); });
  });
};
