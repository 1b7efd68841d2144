/**
 * The status page (live/status-page-server.ts): one self-contained HTML document, inline CSS and JS, no libraries.
 * It opens `ws(s)://<host>/ws`, keeps the last `WINDOW` ticks, and redraws on each update (10 Hz by default):
 * per joint an SVG plot of the measured position and the gate's command with a vertical line at each chunk boundary;
 * a latency plot (policy latency per chunk, loop jitter per tick); the cameras as the policy saw them (224x224 JPEG);
 * faults; and the e-stop button, which sends `{"type":"estop"}` and shows the latch and the measured hold coming back.
 *
 * The page's websocket carries JSON status messages, not the openpi policy protocol, so it does not load the browser
 * build of @openpi-edge/client (docs/agent.md "Status page").
 */

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** JSON safe inside a <script> element. */
const scriptJson = (x: unknown): string => JSON.stringify(x).replace(/</g, '\\u003c');

const CSS = `
*{box-sizing:border-box}body{margin:0;font:13px/1.35 system-ui,sans-serif;background:#111418;color:#dde3ea}
header{display:flex;align-items:center;gap:16px;padding:8px 14px;background:#1b2028;border-bottom:1px solid #2c333d}
header h1{font-size:15px;margin:0;font-weight:600}#conn{font-size:12px;color:#9aa5b1}
#meta{color:#9aa5b1;font-size:12px;flex:1}
#estop{font:700 16px system-ui;background:#c62828;color:#fff;border:3px solid #ffcdd2;border-radius:8px;padding:10px 22px;cursor:pointer}
#estop:active{background:#8e0000}
main{display:grid;grid-template-columns:minmax(300px,470px) 1fr;gap:12px;padding:12px}
section{background:#1b2028;border:1px solid #2c333d;border-radius:6px;padding:8px 10px}
h2{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#9aa5b1;margin:0 0 6px}
#cams{display:grid;grid-template-columns:repeat(2,1fr);gap:6px}
#cams figure{margin:0}#cams img{width:100%;aspect-ratio:1;background:#000;display:block;image-rendering:auto}
#cams figcaption{font-size:11px;color:#9aa5b1}
#counters{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;font-variant-numeric:tabular-nums}
#counters dt{color:#9aa5b1}#counters dd{margin:0}
#estop-state.latched{color:#ff8a80;font-weight:700}
#faults{font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap;max-height:120px;overflow:auto}
#joints{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:6px}
.plot{background:#111418;border:1px solid #262c35;border-radius:4px}
.plot text{fill:#9aa5b1;font-size:10px}
.pos{fill:none;stroke:#4fc3f7;stroke-width:1.3}.cmd{fill:none;stroke:#ffb74d;stroke-width:1;stroke-dasharray:3 2}
.lat{fill:none;stroke:#ce93d8;stroke-width:1.5}.jit{fill:none;stroke:#81c784;stroke-width:1}
.bnd{stroke:#5c6773;stroke-width:1}.hold{fill:#c62828;opacity:.25}
.legend span{margin-right:10px;font-size:11px}.legend i{display:inline-block;width:14px;height:3px;margin-right:4px;vertical-align:middle}
`;

const JS = `
'use strict';
const CFG = JSON.parse(document.getElementById('cfg').textContent);
const WINDOW = 500;
const W = 230, H = 70, LW = 560, LH = 110;
const NS = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);
const st = { step: [], t: [], pos: [], cmd: [], hold: [], jitter: [], chunks: [], ticks: 0, updates: 0,
  clickAt: null, ackMs: null, latchedBackMs: null, heldBackMs: null, estop: null };
window.statusPage = st;

function el(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function plot(parent, w, h, title, classes) {
  const svg = el('svg', { class: 'plot', width: w, height: h, viewBox: '0 0 ' + w + ' ' + h }, parent);
  const holds = el('g', {}, svg), bounds = el('g', {}, svg);
  const lines = classes.map((c) => el('polyline', { class: c, points: '' }, svg));
  const label = el('text', { x: 4, y: 11 }, svg); label.textContent = title;
  const range = el('text', { x: w - 4, y: 11, 'text-anchor': 'end' }, svg);
  return { svg, holds, bounds, lines, range, w, h };
}
const jointPlots = CFG.joints.map((name) => plot($('joints'), W, H, name, ['pos', 'cmd']));
const latPlot = plot($('latency'), LW, LH, 'policy latency per chunk (ms) / loop jitter per tick (ms)', ['lat', 'jit']);
const imgs = {};
for (const cam of CFG.cameras) {
  const f = document.createElement('figure');
  const img = document.createElement('img'); img.alt = cam; img.dataset.camera = cam;
  const c = document.createElement('figcaption'); c.textContent = cam;
  f.append(img, c); $('cams').append(f); imgs[cam] = img;
}
$('meta').textContent = Object.entries(CFG.metadata).map(([k, v]) => k + ' ' + v).join(' · ');

function fmt(x, d) { return x === null || x === undefined || !isFinite(x) ? '-' : Number(x).toFixed(d === undefined ? 1 : d); }
function trim() {
  const over = st.step.length - WINDOW;
  if (over > 0) for (const k of ['step', 't', 'pos', 'cmd', 'hold', 'jitter']) st[k].splice(0, over);
  const first = st.step[0];
  while (st.chunks.length > 0 && st.chunks[0].step < first - 1) st.chunks.shift();
}
function xs(n, w) { return (i) => (n <= 1 ? 0 : (i / (n - 1)) * (w - 8) + 4); }
function series(vals, x, h, lo, hi) {
  const span = hi - lo || 1, out = [];
  for (let i = 0; i < vals.length; i++) {
    const v = vals[i];
    if (v === null || v === undefined || !isFinite(v)) continue;
    out.push(x(i).toFixed(1) + ',' + (h - 4 - ((v - lo) / span) * (h - 18)).toFixed(1));
  }
  return out.join(' ');
}
function marks(p, n, x) {
  p.bounds.replaceChildren(); p.holds.replaceChildren();
  const s0 = st.step[0];
  for (const c of st.chunks) {
    const i = c.step - s0;
    if (i < 0 || i >= n) continue;
    el('line', { class: 'bnd', x1: x(i), x2: x(i), y1: 14, y2: p.h }, p.bounds);
  }
  let start = -1;
  for (let i = 0; i <= n; i++) {
    const h = i < n && st.hold[i];
    if (h && start < 0) start = i;
    if (!h && start >= 0) { el('rect', { class: 'hold', x: x(start), width: Math.max(1, x(i - 1) - x(start)), y: 14, height: p.h - 14 }, p.holds); start = -1; }
  }
}
function draw() {
  const n = st.step.length, x = xs(n, W);
  CFG.joints.forEach((_, j) => {
    const p = jointPlots[j];
    const a = st.pos.map((r) => (r ? r[j] : null)), b = st.cmd.map((r) => (r ? r[j] : null));
    let lo = Infinity, hi = -Infinity;
    for (const v of a.concat(b)) if (v !== null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (!isFinite(lo)) { lo = -1; hi = 1; }
    if (hi - lo < 1e-3) { lo -= 0.05; hi += 0.05; }
    p.lines[0].setAttribute('points', series(a, x, H, lo, hi));
    p.lines[1].setAttribute('points', series(b, x, H, lo, hi));
    p.range.textContent = fmt(lo, 2) + '..' + fmt(hi, 2);
    marks(p, n, x);
  });
  const lx = xs(n, LW);
  const lat = new Array(n).fill(null);
  let lastLat = null;
  const byStep = new Map(st.chunks.map((c) => [c.step, c.latencyMs]));
  for (let i = 0; i < n; i++) { const l = byStep.get(st.step[i]); if (l !== undefined) lastLat = l; lat[i] = lastLat; }
  let hi = 1;
  for (const v of lat.concat(st.jitter)) if (v !== null && isFinite(v)) hi = Math.max(hi, v);
  latPlot.lines[0].setAttribute('points', series(lat, lx, LH, 0, hi));
  latPlot.lines[1].setAttribute('points', series(st.jitter, lx, LH, 0, hi));
  latPlot.range.textContent = '0..' + fmt(hi, 0) + ' ms';
  marks(latPlot, n, lx);
}
function onTicks(m) {
  for (let i = 0; i < m.step.length; i++) {
    st.step.push(m.step[i]); st.t.push(m.t[i]); st.pos.push(m.pos[i]); st.cmd.push(m.cmd[i]);
    st.hold.push(m.decision[i] === 'hold'); st.jitter.push(m.jitter[i]);
  }
  st.ticks += m.step.length; st.updates++;
  trim();
  const last = m.step.length - 1;
  $('step').textContent = String(m.step[last]);
  $('episode').textContent = String(m.episode[last] + 1);
  const j = st.jitter.filter((v) => v !== null).map(Math.abs).sort((a, b) => a - b);
  $('jitter').textContent = j.length ? fmt(j[Math.floor(j.length * 0.5)], 2) + ' / ' + fmt(j[Math.min(j.length - 1, Math.floor(j.length * 0.99))], 2) + ' ms' : '-';
  $('decision').textContent = m.decision[last] + (m.faults[last] ? ' (' + m.faults[last].join(', ') + ')' : '');
  $('workms').textContent = fmt(m.stats.workMs, 1) + ' ms total';
  draw();
}
function onEstop(m) {
  st.estop = m;
  const s = $('estop-state');
  s.className = m.latched ? 'latched' : '';
  let text = m.latched ? 'LATCHED by ' + m.source + ': ' + m.reason : 'clear';
  if (m.latched && st.clickAt !== null && st.latchedBackMs === null) st.latchedBackMs = performance.now() - st.clickAt;
  if (m.ticksToHold !== null && m.ticksToHold !== undefined) {
    if (st.clickAt !== null && st.heldBackMs === null) st.heldBackMs = performance.now() - st.clickAt;
    text += ' · held at step ' + m.heldStep + ', ' + m.ticksToHold + ' tick(s) / ' + fmt(m.latchToHoldMs, 1) + ' ms after the latch';
    if (m.requestToLatchMs !== null) text += ' · request→latch ' + fmt(m.requestToLatchMs, 2) + ' ms';
    s.dataset.held = 'true'; s.dataset.ticksToHold = String(m.ticksToHold);
  }
  if (st.heldBackMs !== null) text += ' · click→hold seen here ' + fmt(st.heldBackMs, 0) + ' ms';
  s.textContent = text;
  s.dataset.latched = String(!!m.latched);
  if (m.source) s.dataset.source = m.source;
}
let ws = null, nextId = 1;
function connect() {
  ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
  ws.onopen = () => { $('conn').textContent = 'connected'; };
  ws.onclose = () => { $('conn').textContent = 'disconnected, retrying...'; setTimeout(connect, 1000); };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === 'ticks') onTicks(m);
    else if (m.type === 'frame') { const img = imgs[m.camera]; if (img) { img.src = 'data:image/' + m.format + ';base64,' + m.data; img.dataset.frames = String(Number(img.dataset.frames || 0) + 1); } }
    else if (m.type === 'chunk') {
      st.chunks.push({ step: m.step, latencyMs: m.latencyMs });
      $('chunk').textContent = '#' + m.index + ' at step ' + m.step + ', ' + fmt(m.latencyMs, 1) + ' ms' + (m.error ? ' ERROR ' + m.error : '');
    }
    else if (m.type === 'faults') $('faults').textContent = (m.active || []).map((f) => f.code + ': ' + f.message).join('\\n') || 'none';
    else if (m.type === 'estop') onEstop(m);
    else if (m.type === 'estop-ack') { if (st.clickAt !== null && st.ackMs === null) st.ackMs = performance.now() - st.clickAt; }
    else if (m.type === 'event') $('event').textContent = m.event + ' (episode ' + (m.episode + 1) + ')';
  };
}
$('estop').addEventListener('click', () => {
  st.clickAt = performance.now(); st.ackMs = null; st.latchedBackMs = null; st.heldBackMs = null;
  if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: 'estop', id: nextId++, reason: 'e-stop button on the status page' }));
  else fetch('/estop', { method: 'POST', body: 'e-stop button on the status page (HTTP)' });
});
connect();
`;

/** The page for a robot with these joints and cameras. */
export function statusPageHtml(cfg: {
  joints: readonly string[];
  cameras: readonly string[];
  metadata: Readonly<Record<string, string>>;
}): string {
  const title = `openpi-edge · ${cfg.metadata.robot ?? 'agent'}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${CSS}</style></head>
<body>
<header><h1>${escapeHtml(title)}</h1><span id="conn">connecting...</span><span id="meta"></span>
<button id="estop" type="button" title="latch the e-stop: the robot holds on the next control tick">E-STOP</button></header>
<main>
<div>
<section><h2>cameras (as the policy sees them)</h2><div id="cams"></div></section>
<section><h2>status</h2><dl id="counters">
<dt>episode</dt><dd id="episode">-</dd><dt>step</dt><dd id="step">-</dd>
<dt>last chunk</dt><dd id="chunk">-</dd><dt>jitter p50 / p99</dt><dd id="jitter">-</dd>
<dt>decision</dt><dd id="decision">-</dd><dt>event</dt><dd id="event">-</dd>
<dt>e-stop</dt><dd id="estop-state">-</dd><dt>page cost (worker)</dt><dd id="workms">-</dd>
</dl></section>
<section><h2>faults</h2><div id="faults">none</div></section>
</div>
<div>
<section><h2>latency</h2><div id="latency"></div><div class="legend"><span><i style="background:#ce93d8"></i>policy latency</span><span><i style="background:#81c784"></i>loop jitter</span><span><i style="background:#5c6773"></i>chunk boundary</span><span><i style="background:#c62828"></i>hold</span></div></section>
<section><h2>joints: measured / command</h2><div class="legend"><span><i style="background:#4fc3f7"></i>measured</span><span><i style="background:#ffb74d"></i>command</span></div><div id="joints"></div></section>
</div>
</main>
<script type="application/json" id="cfg">${scriptJson(cfg)}</script>
<script>${JS}</script>
</body></html>
`;
}
