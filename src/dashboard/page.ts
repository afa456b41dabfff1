// The dashboard page: static HTML, CSS and a script (no data inside; it streams snapshots from
// /dashboard/events). Every value goes into the DOM through textContent, never as HTML. Elements
// carry data-* attributes naming what they show, which the browser test reads.
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>modelserve — live dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/assets/uPlot.min.css">
<link rel="stylesheet" href="/dashboard/assets/dashboard.css">
</head>
<body>
<header><h1>modelserve <span class="sub">live predictions</span></h1><span id="status" data-status="connecting">connecting…</span><span id="updated"></span></header>
<form id="auth" hidden><label>API key <input id="key" type="password" autocomplete="off"></label> <button type="submit">Connect</button> <span>(this server has auth on; the key stays in this tab)</span></form>
<p id="no-models" class="panel" hidden>No model is served now.</p>
<main id="versions"></main>
<section class="panel"><h2>Errors</h2><table id="errors"><thead><tr><th>model</th><th>version</th><th>front door</th><th>status</th><th>count</th></tr></thead><tbody></tbody></table></section>
<section class="panel"><h2>Latest predictions</h2><table id="latest"><thead><tr><th>time</th><th>model</th><th>v</th><th>via</th><th>request id</th><th>inputs</th><th>prediction</th><th>ms</th></tr></thead><tbody></tbody></table></section>
<script src="/dashboard/assets/uPlot.min.js"></script>
<script src="/dashboard/assets/dashboard.js"></script>
</body>
</html>
`;

export const DASHBOARD_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d232b; }
header { display: flex; flex-wrap: wrap; gap: .3em 1.5em; align-items: baseline; padding: .6em 1.2em; background: #1d232b; color: #fff; }
header h1 { font-size: 1.2em; margin: 0; } .sub { font-weight: normal; opacity: .7; }
#status[data-status=live] { color: #7ee787; } #status[data-status=error] { color: #ff7b72; }
#updated { opacity: .6; font-size: .9em; }
#auth { padding: .8em 1.2em; background: #fff3cd; }
#no-models { margin-top: 1em; }
main { display: flex; flex-wrap: wrap; gap: 1em; padding: 1em; }
.card, .panel { background: #fff; border: 1px solid #d8dde3; border-radius: 6px; padding: .8em 1em; }
.panel { margin: 0 1em 1em; overflow-x: auto; } .card { flex: 1 1 560px; min-width: 0; } .card[data-loaded=false] { opacity: .55; }
.card h2, .panel h2 { font-size: 1.05em; margin: 0 0 .5em; }
.stats { display: grid; grid-template-columns: repeat(4, 1fr); gap: .3em 1em; margin-bottom: .6em; }
.stat b { display: block; font-size: 1.3em; font-variant-numeric: tabular-nums; } .stat span { opacity: .65; font-size: .85em; }
.charts { display: flex; flex-wrap: wrap; gap: .5em; }
.dist table { border-collapse: collapse; margin-top: .3em; } .dist td { padding: 0 .6em 0 0; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; font-size: .9em; } th, td { text-align: left; padding: .2em .5em; border-bottom: 1px solid #eef0f3; vertical-align: top; }
#latest { min-width: 760px; }
td.json { font-family: ui-monospace, monospace; font-size: .85em; max-width: 32em; overflow-wrap: anywhere; }
`;

export const DASHBOARD_JS = `'use strict';
(function () {
  const POINTS = 120;
  const STALE_MS = 10000;
  const cards = new Map();
  const $ = (sel, root) => (root || document).querySelector(sel);
  const el = (tag, attrs, text) => { const e = document.createElement(tag); for (const k in attrs || {}) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = String(text); return e; };
  const fmt = (n, d) => (n === null || n === undefined ? '–' : Number(n).toFixed(d === undefined ? 0 : d));

  function statBox(parent, name, label) {
    const box = el('div', { class: 'stat' });
    box.append(el('b', { 'data-stat': name }, '–'), el('span', {}, label));
    parent.append(box);
  }

  function barsChart(title, width) {
    return new uPlot({
      title, width, height: 170, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
      axes: [{ values: (u, splits) => splits.map((i) => (u.xLabels && u.xLabels[i] !== undefined ? u.xLabels[i] : '')) }, {}],
      series: [{}, { label: 'count', fill: 'rgba(56,139,253,.5)', stroke: '#388bfd', paths: uPlot.paths.bars({ size: [0.8, 60] }), points: { show: false } }],
    }, [[], []], null);
  }

  // A version reloaded with other outputs (model.yaml edited under --watch) gets a new card, with its charts.
  const cardKey = (v) => v.model + '@' + v.version + '|' + (v.labels ? v.labels.field : '') + '|' + (v.histogram ? v.histogram.field : '');

  // Only the cards on screen (or near it) draw: a repository of hundreds of models would otherwise
  // build three charts per card before the first frame shows and redraw them all twice a second.
  // A card off screen keeps its points and snapshot, and draws them when it is scrolled to.
  const cardOf = new WeakMap();
  const watcher = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const c = cardOf.get(entry.target);
      if (!c) continue;
      c.shown = entry.isIntersecting;
      if (c.shown && c.last) draw(c);
    }
  }, { rootMargin: '300px' });

  function card(v) {
    const key = cardKey(v);
    let c = cards.get(key);
    if (c) return c;
    const root = el('section', { class: 'card', 'data-model': v.model, 'data-version': String(v.version) });
    const title = el('h2'); // its text, by render(): it says whether the version is loaded
    root.append(title);
    const stats = el('div', { class: 'stats' });
    [['requests', 'requests'], ['rows', 'rows'], ['rate', 'requests/s'], ['queue', 'queue depth (rows)'], ['p50', 'p50 ms'], ['p95', 'p95 ms'], ['p99', 'p99 ms'], ['batch', 'mean batch rows']].forEach(([n, l]) => statBox(stats, n, l));
    root.append(stats);
    const charts = el('div', { class: 'charts' });
    root.append(charts);
    c = { root, title, charts, series: [[], [], []], timeline: null, labels: null, hist: null, shown: false, last: null };
    cards.set(key, c);
    cardOf.set(root, c);
    watcher.observe(root);
    return c;
  }

  // A card's charts, made when it is first drawn, no wider than its card (a phone's is narrower than 520 px).
  function makeCharts(c, v) {
    const room = Math.max(200, c.charts.clientWidth);
    c.timeline = new uPlot({
      title: 'requests/s and p99 latency', width: Math.min(520, room), height: 170,
      scales: { ms: {} },
      axes: [{}, { label: 'req/s' }, { scale: 'ms', side: 1, label: 'p99 ms', grid: { show: false } }],
      series: [{}, { label: 'req/s', stroke: '#388bfd' }, { label: 'p99 ms', stroke: '#d29922', scale: 'ms' }],
    }, c.series, c.charts);
    const dist = el('div', { class: 'dist' });
    c.charts.append(dist);
    if (v.labels) { c.labels = barsChart('predictions by ' + v.labels.field, Math.min(260, room)); dist.append(c.labels.root); dist.append(el('table', { 'data-dist': 'labels' })); }
    if (v.histogram) { c.hist = barsChart(v.histogram.field + ' (last 2048)', Math.min(260, room)); dist.append(c.hist.root); }
  }

  // The cards are the snapshot's versions, in its order: a model removed from the repository (or
  // gone after a server restart) loses its card, charts and all; a new one takes its place in order.
  function placeCards(versions) {
    const keys = new Set(versions.map(cardKey));
    for (const [key, c] of cards) {
      if (keys.has(key)) continue;
      [c.timeline, c.labels, c.hist].forEach((chart) => chart && chart.destroy());
      watcher.unobserve(c.root);
      c.root.remove();
      cards.delete(key);
    }
    const roots = versions.map((v) => card(v).root);
    const main = $('#versions');
    if (roots.some((r, i) => main.children[i] !== r)) main.replaceChildren(...roots);
    $('#no-models').hidden = roots.length > 0;
  }

  // A card's latest snapshot, in its stats, charts and label table.
  function draw(c) {
    const v = c.last;
    if (!c.timeline) makeCharts(c, v);
    const set = (n, t) => { $('[data-stat="' + n + '"]', c.root).textContent = t; };
    set('requests', v.requests); set('rows', v.rows); set('rate', fmt(v.rate, 1)); set('queue', v.queueDepth);
    set('p50', v.latency ? fmt(v.latency.p50, 2) : '–'); set('p95', v.latency ? fmt(v.latency.p95, 2) : '–'); set('p99', v.latency ? fmt(v.latency.p99, 2) : '–');
    set('batch', v.batches ? fmt(v.batches.meanRows, 2) : '–');
    c.timeline.setData(c.series);
    if (c.labels && v.labels) {
      const names = Object.keys(v.labels.counts).sort();
      c.labels.xLabels = names;
      c.labels.setData([names.map((_, i) => i), names.map((n) => v.labels.counts[n])]);
      const table = $('[data-dist="labels"]', c.root);
      table.replaceChildren(...names.map((n) => { const tr = el('tr', { 'data-label': n }); tr.append(el('td', {}, n), el('td', { 'data-count': '' }, v.labels.counts[n])); return tr; }));
    }
    if (c.hist && v.histogram) {
      const h = v.histogram, w = (h.max - h.min) / h.counts.length;
      c.hist.xLabels = h.counts.map((_, i) => (i % 5 === 0 ? fmt(h.min + i * w, 2) : ''));
      c.hist.setData([h.counts.map((_, i) => i), h.counts]);
      c.root.setAttribute('data-histogram-total', String(h.counts.reduce((a, b) => a + b, 0)));
    }
  }

  function render(s) {
    $('#updated').textContent = 'updated ' + new Date(s.time).toLocaleTimeString();
    const now = Date.now() / 1000;
    placeCards(s.versions);
    for (const v of s.versions) {
      const c = card(v);
      c.last = v;
      // Every card has its title (a search in the page finds it); an unloaded (or replaced) version
      // keeps its card and counts, marked as no longer served.
      if (c.root.dataset.loaded !== String(v.loaded)) {
        c.root.dataset.loaded = String(v.loaded);
        c.title.textContent = v.model + ' · version ' + v.version + (v.loaded ? '' : ' (not loaded)');
      }
      c.series[0].push(now); c.series[1].push(v.rate); c.series[2].push(v.latency ? v.latency.p99 : null);
      if (c.series[0].length > POINTS) c.series.forEach((a) => a.shift());
      if (c.shown) draw(c);
    }
    const errors = $('#errors tbody');
    errors.replaceChildren(...s.errors.map((e) => { const tr = el('tr', { 'data-error': e.frontDoor + ' ' + e.status, 'data-model': e.model }); [e.model, e.version, e.frontDoor, e.status, e.count].forEach((t) => tr.append(el('td', {}, t))); return tr; }));
    const latest = $('#latest tbody');
    latest.replaceChildren(...s.latest.map((p) => {
      const tr = el('tr', { 'data-request-id': p.request_id || '' });
      tr.append(el('td', {}, new Date(p.time).toLocaleTimeString()), el('td', {}, p.model), el('td', {}, p.version), el('td', {}, p.front_door), el('td', {}, p.request_id || ''),
        el('td', { class: 'json', 'data-col': 'inputs' }, JSON.stringify(p.inputs)), el('td', { class: 'json', 'data-col': 'predictions' }, JSON.stringify(p.predictions) + (Array.isArray(p.predictions) && p.rows > p.predictions.length ? ' … ' + p.rows + ' rows' : '')), el('td', {}, fmt(p.latency_ms, 2)));
      return tr;
    }));
    document.body.setAttribute('data-frames', String(Number(document.body.getAttribute('data-frames') || 0) + 1));
  }

  function setStatus(state, text) { const s = $('#status'); s.dataset.status = state; s.textContent = text; }

  // Server-sent events over fetch(): EventSource cannot send an Authorization header.
  async function connect() {
    const key = sessionStorage.getItem('modelserve-key');
    // A stream that goes silent without closing (a dropped network, a proxy holding it) would leave
    // the page 'live' on old numbers: the server sends a frame every half second, so 10 s with
    // nothing means it is gone; the request is abandoned and made again.
    const abort = new AbortController();
    let silence = setTimeout(() => abort.abort(), STALE_MS);
    let res;
    try {
      res = await fetch('/dashboard/events', { headers: key ? { authorization: 'Bearer ' + key } : {}, signal: abort.signal });
    } catch (e) { clearTimeout(silence); setStatus('error', 'disconnected; retrying'); return void setTimeout(connect, 1000); }
    clearTimeout(silence);
    // A key was sent and refused: said so, not taken for no key at all.
    if (res.status === 401) { setStatus('error', key ? 'API key refused: enter another' : 'API key needed'); $('#auth').hidden = false; return; }
    if (!res.ok) {
      // A rate limit (429) or overload (503) says when to come back: Retry-After, in seconds.
      const wait = Math.max(1, Number(res.headers.get('retry-after')) || 2);
      setStatus('error', 'HTTP ' + res.status + '; retrying in ' + wait + ' s');
      return void setTimeout(connect, wait * 1000);
    }
    $('#auth').hidden = true;
    setStatus('live', 'live');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        silence = setTimeout(() => abort.abort(), STALE_MS);
        const { value, done } = await reader.read();
        clearTimeout(silence);
        if (done) break;
        buffer += value;
        let at;
        while ((at = buffer.indexOf('\\n\\n')) >= 0) {
          const frame = buffer.slice(0, at); buffer = buffer.slice(at + 2);
          const data = frame.split('\\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\\n');
          if (data) render(JSON.parse(data));
        }
      }
    } catch (e) { /* stream cut or silent: reconnect below */ }
    clearTimeout(silence);
    abort.abort();
    setStatus('error', 'disconnected; retrying');
    setTimeout(connect, 1000);
  }
  $('#auth').addEventListener('submit', (ev) => { ev.preventDefault(); sessionStorage.setItem('modelserve-key', $('#key').value); connect(); });
  connect();
})();
`;
