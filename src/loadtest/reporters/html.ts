// One self-contained HTML report (opens offline): uPlot's script and stylesheet are read from
// node_modules at report time and inlined, and the run's data is embedded as JSON.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { measuredCapacity } from '../capacity.js';
import { fmtMs, fmtRate, fmtRps } from '../thresholds.js';
import type { CapacityResult, RunResult } from '../types.js';
import { capacityNotes, interruptedNote } from './console.js';
import { failedStatus, latencyMeasured } from '../stats.js';

function uplotAssets(): { js: string; css: string } {
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('uplot/package.json')), 'dist');
  return { js: readFileSync(join(dir, 'uPlot.iife.min.js'), 'utf8'), css: readFileSync(join(dir, 'uPlot.min.css'), 'utf8') };
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON safe to embed in a <script> element. */
function embed(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function summaryTable(r: RunResult): string {
  const L = r.latencyMs;
  const cells: Array<[string, string]> = [
    ['requests', String(r.requests)], ['req/s', r.rps.toFixed(1)], ['failures', `${r.failures}${r.schedule?.unsent ? ` + ${r.schedule.unsent} never sent` : ''} (${(r.errorRate * 100).toFixed(2)}%)`],
    ...(latencyMeasured(r)
      ? [['p50', `${fmtMs(L.p50)} ms`], ['p90', `${fmtMs(L.p90)} ms`], ['p95', `${fmtMs(L.p95)} ms`], ['p99', `${fmtMs(L.p99)} ms`],
        ['p99.9', `${fmtMs(L['p99.9'])} ms`], ['max', `${fmtMs(L.max)} ms`], ['mean', `${fmtMs(L.mean)} ms`]] as Array<[string, string]>
      : [['latency', 'not measured (no request got an answer)'] as [string, string]]),
  ];
  return `<table class="kv">${cells.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

/** Every step of a capacity search, in the order run (the charts above show only the reported run). */
function stepTable(cap: CapacityResult): string {
  const head = ['step', 'offered req/s', 'achieved req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'errors', 'result'];
  const rows = cap.steps.map((s, i) => [String(i + 1), fmtRate(s.rate), fmtRps(s.achievedRps), fmtMs(s.p50), fmtMs(s.p95), fmtMs(s.p99), `${(s.errorRate * 100).toFixed(2)}%`, s.ok ? 'meets SLO' : `fails: ${s.reason ?? ''}`]);
  return `<table class="kv steps"><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map((row) => `<tr class="${row[7] === 'meets SLO' ? 'pass' : 'fail'}">${row.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</table>`;
}

export function renderHtml(r: RunResult): string {
  const { js, css } = uplotAssets();
  const c = r.config;
  const how = c.model === 'open' ? `open model, ${c.rate} req/s${c.stages?.length ? ` + ${c.stages.length} stage(s)` : ''}, ≤ ${c.connections} connections`
    : c.model === 'sequential' ? 'sequential' : `closed model, ${c.users} user${c.users === 1 ? '' : 's'} (${c.spawnRate ? `spawned at ${c.spawnRate}/s` : 'all at once'}), wait ${c.wait}`;
  const errors = [...Object.entries(r.statusCounts).filter(([s]) => failedStatus(Number(s))).map(([s, n]) => `HTTP ${s}: ${n}`), ...Object.entries(r.errorKinds).map(([k, n]) => `${k}: ${n}`)];
  const thresholds = (r.thresholds ?? []).map((t) => `<li class="${t.ok ? 'pass' : 'fail'}">${t.ok ? 'PASS' : 'FAIL'} ${esc(t.expr)} (actual ${esc(String(Number(t.actual.toPrecision(4))))})</li>`).join('');
  const cap = r.capacity;
  // Interrupted during the first step: no step was judged, so there is no capacity, table or curve.
  const measured = cap === undefined ? null : measuredCapacity(cap);
  const judged = cap !== undefined && cap.steps.length > 0;
  const capacity = cap
    ? `<h2>Capacity search</h2><p>${measured === null ? 'Capacity: not measured (no step finished).' : measured > 0 ? `Highest rate meeting ${esc(cap.slo.join(', '))}: <b>${cap.capped ? '≥ ' : ''}${fmtRate(measured)} req/s</b>` : 'No tested rate met the SLO.'}</p>${capacityNotes(cap, c.rate).map((n) => `<p class="warn">${esc(n)}</p>`).join('')}${judged ? `${stepTable(cap)}<div id="capacity" class="chart"></div>` : ''}`
    : '';
  const data = {
    t: r.series.map((s) => s.t), rps: r.series.map((s) => s.rps), fps: r.series.map((s) => s.fps),
    p50: r.series.map((s) => s.p50), p95: r.series.map((s) => s.p95), p99: r.series.map((s) => s.p99),
    users: r.series.map((s) => s.users), offered: r.series.map((s) => s.offered), open: c.model === 'open',
    dist: r.distribution, capacity: judged ? cap.steps.slice().sort((a, b) => a.rate - b.rate) : null,
  };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>modelserve loadtest — ${esc(c.method)} ${esc(c.url)}</title>
<style>${css}</style>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
.kv{border-collapse:collapse}.kv th,.kv td{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}.kv td{text-align:right;font-variant-numeric:tabular-nums}
.chart{margin:8px 0 16px}.steps td{text-align:right}.steps td:last-child{text-align:left}.pass{color:#080}.fail{color:#b00;font-weight:bold}.warn{color:#a60}
</style></head><body>
<h1>Load test: ${esc(c.method)} ${esc(c.url)}</h1>
<p>${esc(how)}; started ${esc(r.startedAt)}, ${r.elapsedS.toFixed(1)} s; bodies: ${esc(c.bodySource)}</p>
${r.interrupted ? `<p class="warn" id="interrupted">${esc(interruptedNote(r)!)}</p>` : ''}
${summaryTable(r)}
${errors.length ? `<p>Errors: ${esc(errors.join(', '))}</p>` : ''}
${r.schedule ? `<p>Schedule: offered ${r.schedule.offeredRate.toFixed(1)} req/s, ${r.schedule.late} sent more than ${r.schedule.lateToleranceMs} ms late (max lag ${fmtMs(r.schedule.maxSendLagMs)} ms)${r.schedule.unsent ? `, ${r.schedule.unsent} never sent` : ''}. Latency is measured from each request's intended send time.</p>` : ''}
${r.generator.warning ? `<p class="warn">Warning: ${esc(r.generator.warning)}</p>` : ''}
${thresholds ? `<h2>Thresholds</h2><ul>${thresholds}</ul>` : ''}
<h2>Requests per second</h2><div id="rps" class="chart"></div>
<h2>Response time (ms)</h2><div id="lat" class="chart"></div>
<h2>${c.model === 'open' ? 'Offered rate and requests in flight' : 'Users'}</h2><div id="users" class="chart"></div>
<h2>Latency distribution</h2><div id="dist" class="chart"></div>
${capacity}
<script>${js}</script>
<script id="data" type="application/json">${embed(data)}</script>
<script>
(function(){
var D = JSON.parse(document.getElementById('data').textContent);
var W = Math.min(1050, window.innerWidth - 48);
// The y axis is as wide as its longest tick label (uPlot's fixed 50 px cut "10,000" to "0,000").
function axisSize(u, values, ai){
  var ax = u.axes[ai];
  if (!values) return 50;
  u.ctx.save();
  u.ctx.font = ax.font[0];
  var w = 0;
  values.forEach(function(v){ if (v != null) w = Math.max(w, u.ctx.measureText(String(v)).width); });
  u.ctx.restore();
  return Math.ceil(w / (window.devicePixelRatio || 1)) + ax.ticks.size + ax.gap + 8;
}
function plot(id, title, series, x, ys, opts){
  var el = document.getElementById(id);
  var o = Object.assign({ width: W, height: 260, title: title, series: [{}].concat(series), axes: [{}, {}] }, opts || {});
  o.axes = o.axes.map(function(a, i){ return i === 1 ? Object.assign({ size: axisSize }, a) : a; });
  return new uPlot(o, [x].concat(ys), el);
}
var S = function(label, stroke, extra){ return Object.assign({ label: label, stroke: stroke, width: 2, spanGaps: false }, extra || {}); };
window.__charts = [];
window.__charts.push(plot('rps', 'req/s and failures/s', [S('req/s', '#2a7'), S('failures/s', '#d33')], D.t, [D.rps, D.fps], { scales: { x: { time: false } }, axes: [{ label: 's' }, {}] }));
window.__charts.push(plot('lat', 'p50 / p95 / p99 (ms)', [S('p50', '#37c'), S('p95', '#e90'), S('p99', '#c3c')], D.t, [D.p50, D.p95, D.p99], { scales: { x: { time: false } }, axes: [{ label: 's' }, { label: 'ms' }] }));
if (D.open) window.__charts.push(plot('users', 'offered req/s and in flight', [S('offered req/s', '#2a7'), S('in flight', '#555')], D.t, [D.offered, D.users], { scales: { x: { time: false } }, axes: [{ label: 's' }, {}] }));
else window.__charts.push(plot('users', 'users', [S('users', '#555')], D.t, [D.users], { scales: { x: { time: false } }, axes: [{ label: 's' }, {}] }));
if (D.dist.length) {
  var px = D.dist.map(function(d){ return Math.min(6, -Math.log10(1 - Math.min(d[0], 99.9999) / 100)); });
  var lab = function(v){ var p = 100 * (1 - Math.pow(10, -v)); return (Math.round(p * 1000) / 1000) + '%'; };
  window.__charts.push(plot('dist', 'latency by percentile (ms)', [S('latency ms', '#37c', { points: { show: true } })], px, [D.dist.map(function(d){ return d[1]; })],
    { scales: { x: { time: false } }, axes: [{ label: 'percentile', splits: function(){ return [0, 1, 2, 3, 4, 5]; }, values: function(u, v){ return v.map(lab); } }, { label: 'ms' }] }));
}
if (D.capacity) {
  window.__charts.push(plot('capacity', 'latency vs offered rate', [S('p50', '#37c', { points: { show: true } }), S('p95', '#e90', { points: { show: true } }), S('p99', '#c3c', { points: { show: true } })],
    D.capacity.map(function(s){ return s.rate; }), [D.capacity.map(function(s){ return s.p50; }), D.capacity.map(function(s){ return s.p95; }), D.capacity.map(function(s){ return s.p99; })],
    { scales: { x: { time: false } }, axes: [{ label: 'offered req/s' }, { label: 'ms' }] }));
}
document.body.setAttribute('data-charts', String(window.__charts.length));
})();
</script>
</body></html>
`;
}

export function writeHtml(file: string, r: RunResult): void {
  writeFileSync(file, renderHtml(r));
}
