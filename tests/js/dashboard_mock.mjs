// A stand-in for services/dashboard's HTTP API (docs: /work/briefs/design18.md,
// "HTTP API"), for working on web/ and on web/tests/dashboard_check.mjs without a
// cluster: serves web/ the way the dashboard does (/, /static/, /static/uplot/)
// and canned, seeded replies. NOT used by `make test` (the tests drive the real
// dashboard); the API it imitates is the design's, so when the two disagree the
// dashboard is right and this file is stale.
//
//   node tests/js/dashboard_mock.mjs [--port 8099] [--runs 400] [--live-ms 3000]
//   login: user "shifter", password "shifter-pw"
//
// One hostile key, "<img src=x onerror=alert(1)>", is among the histograms so the
// page's escaping can be seen. A new run arrives every --live-ms (0: never), and
// a verdict comes back through SSE 300 ms after it is accepted, as the real
// dashboard's does once the events log has it.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const WEB = path.resolve(here, '../../web');
const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) =>
  (v.startsWith('--') ? a.concat([[v.slice(2), all[i + 1]]]) : a), []));
const PORT = Number(args.port ?? 8099);
const N_RUNS = Number(args.runs ?? 400);
const LIVE_MS = Number(args['live-ms'] ?? 3000);
const HISTORICAL = 100;
const N_BINS = 40;
const USERS = { shifter: 'shifter-pw' };

// mulberry32: fixed seed, same data every start
let seed = 18;
function rnd() {
  seed |= 0; seed = (seed + 0x6D2B79F5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
function gauss() { return Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd()); }

const SUBSYSTEMS = ['EMC', 'FT0', 'ITS', 'MFT', 'MID', 'TOF', 'TPC', 'TRD', 'ZDC'];
const KEYS = [];
for (const s of SUBSYSTEMS) {
  for (const h of ['occupancy', 'charge', 'timing', 'clusters']) KEYS.push({ key: `${s}/Raw/${h}`, subsystem: s });
}
KEYS.push({ key: '<img src=x onerror=alert(1)>', subsystem: 'TPC' });
const TH = {};
for (const k of KEYS) {
  TH[k.key] = {
    s: { bad: 1.2 + rnd() * 0.6, warning: 1.0 + rnd() * 0.15, origin: 'tuned', alpha: 0.1 },
    ml: { bad: -1.5 + rnd() * 0.5, warning: -1.95 + rnd() * 0.2, origin: 'tuned', alpha: null },
  };
}
function severity(score, th, seq) {
  if (seq < HISTORICAL) return 'none';
  if (score === null) return 'insufficient';
  if (score >= th.bad) return 'bad';
  if (score >= th.warning) return 'warning';
  return 'ok';
}
const RANK = { bad: 4, warning: 3, ok: 2, insufficient: 1, none: 0 };
const worse = (a, b) => (RANK[a] >= RANK[b] ? a : b);

const runs = [];        // index = seq
const labels = [];      // per seq: [{verdict, source, who, reason, time, key}]
const BASE_T = 1796630400;
function makeRun(seq) {
  const trouble = rnd() < 0.1 ? SUBSYSTEMS[Math.floor(rnd() * SUBSYSTEMS.length)] : null;
  const scores = {};
  for (const k of KEYS) {
    const hit = trouble === k.subsystem && rnd() < 0.7;
    const s = (hit ? 0.9 + rnd() * 1.2 : 0.1 + Math.abs(gauss()) * 0.25);
    const ml = (hit ? -2.0 + rnd() * 1.2 : -3 + Math.abs(gauss()) * 0.3);
    scores[k.key] = { s: seq % 53 === 7 && k.subsystem === 'ZDC' ? null : s, ml };
  }
  runs[seq] = { seq, run: 529000 + seq * 3, time: BASE_T + seq * 640, scores };
  labels[seq] = [];
  if (seq < HISTORICAL) labels[seq].push({ verdict: trouble ? 'bad' : 'good', source: 'generator', who: null, reason: null, time: BASE_T + seq * 640 + 5, key: null });
  else if (seq < N_RUNS - 40 && rnd() < 0.5) labels[seq].push({ verdict: trouble ? 'bad' : 'good', source: 'auto', who: null, reason: null, time: BASE_T + seq * 640 + 60, key: null });
  else if (seq < N_RUNS - 40 && rnd() < 0.3) labels[seq].push({ verdict: trouble ? 'bad' : 'good', source: 'shifter', who: 'alice', reason: trouble ? `${trouble} hot sector` : 'looks fine', time: BASE_T + seq * 640 + 300, key: null });
}
for (let i = 0; i < N_RUNS; i++) makeRun(i);

function methodSummary(r, m) {
  let sev = 'none'; let best = null; let scored = 0; const ex = [];
  for (const k of KEYS) {
    const sc = r.scores[k.key][m];
    if (sc !== null) { scored++; best = best === null ? sc : Math.max(best, sc); }
    const sv = severity(sc, TH[k.key][m], r.seq);
    sev = worse(sev, sv);
    if (sc !== null && r.seq >= HISTORICAL && sv !== 'ok') ex.push({ key: k.key, excess: sc - TH[k.key][m].bad });
  }
  ex.sort((a, b) => b.excess - a.excess);
  return { severity: sev, score: best, scored, worst: ex.slice(0, 3) };
}
function labelState(seq) {
  const ls = labels[seq];
  if (!ls.length) return { state: 'awaiting', verdict: null, who: null, reason: null, time: null };
  const person = [...ls].reverse().find((l) => l.source === 'shifter');
  const l = person || ls[ls.length - 1];
  const state = { shifter: 'person', auto: 'auto', generator: 'recorded', recorded: 'recorded' }[l.source];
  return { state, verdict: l.verdict, who: l.who, reason: l.reason, time: l.time };
}
function RUN(seq) {
  const r = runs[seq];
  const subs = {};
  for (const k of KEYS) {
    const x = subs[k.subsystem] || (subs[k.subsystem] = { s: 'none', ml: 'none' });
    for (const m of ['s', 'ml']) x[m] = worse(x[m], severity(r.scores[k.key][m], TH[k.key][m], seq));
  }
  return { seq, run: r.run, time: r.time, n_hist: KEYS.length, s: methodSummary(r, 's'), ml: methodSummary(r, 'ml'), subsystems: subs, label: labelState(seq) };
}
function counts() {
  const c = { s: {}, ml: {} };
  for (const m of ['s', 'ml']) for (const s of Object.keys(RANK)) c[m][s] = 0;
  for (const r of runs) { const x = RUN(r.seq); c.s[x.s.severity]++; c.ml[x.ml.severity]++; }
  return c;
}

// sessions: id -> {user, csrf}
const sessions = new Map();
function session(req) {
  const m = /(?:^|;\s*)dinamo_session=([A-Za-z0-9_-]+)/.exec(req.headers.cookie || '');
  return m ? sessions.get(m[1]) || null : null;
}
function summary(req) {
  const s = session(req);
  return { stream: 'mock-stream', runs: runs.length, historical_runs: HISTORICAL, methods: ['s', 'ml'],
    subsystems: SUBSYSTEMS, keys: KEYS.length, counts: counts(),
    awaiting: runs.filter((r) => !labels[r.seq].length).length,
    user: s ? s.user : null, csrf: s ? s.csrf : null, login_required_to_view: false, ended: false };
}

// JSON the way the design says: <>& escaped inside strings
function json(res, code, obj, extra) {
  const body = JSON.stringify(obj).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
  res.writeHead(code, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...extra });
  res.end(body);
}

function histDetail(seq, key) {
  const r = runs[seq];
  const k = KEYS.find((x) => x.key === key);
  let s2 = 0; for (const c of key) s2 = (s2 * 31 + c.charCodeAt(0)) >>> 0;
  const saved = seed;
  seed = s2 ^ (seq * 2654435761);
  const edges = Array.from({ length: N_BINS + 1 }, (_, i) => i * 0.25);
  const mu = 3 + (s2 % 5); const w = 1.2 + (s2 % 3) * 0.4;
  const shape = edges.slice(0, -1).map((e) => Math.exp(-0.5 * ((e + 0.125 - mu) / w) ** 2) + 0.02);
  const tot = shape.reduce((a, b) => a + b, 0);
  const ref = shape.map((x) => x / tot);
  const N = 20000;
  const bad = r.scores[key].s !== null && r.scores[key].s > TH[key].s.bad;
  const counts = ref.map((p, i) => Math.max(0, Math.round(N * p * (bad && i > 20 && i < 26 ? 1.6 : 1) + gauss() * Math.sqrt(N * p))));
  const ct = counts.reduce((a, b) => a + b, 0);
  const one = (m, wobble) => {
    const rr = ref.map((p) => p * (1 + wobble * gauss()));
    const sigma = rr.map((p) => Math.sqrt(p / N) + 0.002 * p);
    const pulls = counts.map((c, i) => (c / ct - rr[i]) / Math.sqrt(sigma[i] ** 2 + rr[i] / ct));
    const sc = r.scores[key][m];
    return { reference: rr, sigma, pulls, score: sc, threshold_bad: TH[key][m].bad, threshold_warning: TH[key][m].warning };
  };
  seed = saved;
  return { key, seq, run: r.run, detail: true, edges, counts, variances: counts.slice(), s: r.scores[key].s === null ? null : one('s', 0.01), ml: one('ml', 0.03), subsystem: k.subsystem };
}

const clients = new Set();
let eventId = 0;
function broadcast(event, data) {
  eventId++;
  const body = JSON.stringify(data).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
  for (const c of clients) c.write(`id: ${eventId}\nevent: ${event}\ndata: ${body}\n\n`);
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json' };
function serveFile(res, file) {
  fs.readFile(file, (err, buf) => {
    if (err) return json(res, 404, { error: 'no such file' });
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store',
      'Content-Security-Policy': "default-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
      'X-Content-Type-Options': 'nosniff' });
    res.end(buf);
  });
}

function readBody(req) {
  return new Promise((resolve) => { let b = ''; req.on('data', (c) => { b += c; }); req.on('end', () => resolve(b)); });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  const p = url.pathname;
  const q = url.searchParams;
  if (req.method === 'GET' && p === '/') return serveFile(res, path.join(WEB, 'index.html'));
  if (req.method === 'GET' && p.startsWith('/static/uplot/')) return serveFile(res, path.join(WEB, 'node_modules/uplot/dist', path.basename(p)));
  if (req.method === 'GET' && p.startsWith('/static/')) return serveFile(res, path.join(WEB, path.basename(p)));
  if (req.method === 'GET' && p === '/api/summary') return json(res, 200, summary(req));
  if (req.method === 'GET' && p === '/api/runs') {
    const before = q.has('before') ? Number(q.get('before')) : Infinity;
    const limit = Math.min(Number(q.get('limit') || 100), 1000);
    const sev = q.get('severity'); const meth = q.get('method'); const sub = q.get('subsystem'); const aw = q.get('awaiting') === '1';
    const out = [];
    let next = null;
    for (let i = runs.length - 1; i >= 0; i--) {
      if (i >= before) continue;
      const r = RUN(i);
      if (aw && r.label.state !== 'awaiting') continue;
      const sevOf = (x) => (meth ? x[meth] : worse(x.s, x.ml));
      if (sub && !r.subsystems[sub]) continue;
      if (sev && (sub ? sevOf(r.subsystems[sub]) : sevOf({ s: r.s.severity, ml: r.ml.severity })) !== sev) continue;
      if (out.length === limit) { next = out[out.length - 1].seq; break; }
      out.push(r);
    }
    return json(res, 200, { runs: out, next_before: next });
  }
  let m;
  if (req.method === 'GET' && (m = p.match(/^\/api\/run\/(\d+)$/))) {
    const seq = Number(m[1]);
    if (!runs[seq]) return json(res, 404, { error: `no run with seq ${seq}` });
    const r = runs[seq];
    const hs = KEYS.map((k) => {
      const one = (mm) => { const sc = r.scores[k.key][mm]; const th = TH[k.key][mm];
        return { severity: severity(sc, th, seq), score: sc, chi2: sc === null ? null : Math.exp(sc) * N_BINS, status: sc === null ? 'INSUFFICIENT' : 'OK',
          threshold_bad: th.bad, threshold_warning: th.warning, alpha: th.alpha, excess: sc === null ? null : sc - th.bad }; };
      return { key: k.key, subsystem: k.subsystem, n_bins: N_BINS, s: one('s'), ml: { ...one('ml'), model_version: seq } };
    });
    const rank = (h) => Math.max(h.s.excess ?? -Infinity, h.ml.excess ?? -Infinity);
    hs.sort((a, b) => rank(b) - rank(a));
    return json(res, 200, { run: RUN(seq), histograms: hs, labels: labels[seq] });
  }
  if (req.method === 'GET' && (m = p.match(/^\/api\/run\/(\d+)\/hist$/))) {
    const seq = Number(m[1]); const key = q.get('key');
    if (!runs[seq] || !KEYS.find((k) => k.key === key)) return json(res, 404, { error: `no histogram ${key} in run ${seq}` });
    return json(res, 200, histDetail(seq, key));
  }
  if (req.method === 'GET' && p === '/api/key') {
    const key = q.get('key'); const k = KEYS.find((x) => x.key === key);
    if (!k) return json(res, 404, { error: `no key ${key}` });
    return json(res, 200, { key, subsystem: k.subsystem, n_bins: N_BINS, thresholds: TH[key],
      seq: runs.map((r) => r.seq), run: runs.map((r) => r.run), s: runs.map((r) => r.scores[key].s), ml: runs.map((r) => r.scores[key].ml),
      sev_s: runs.map((r) => severity(r.scores[key].s, TH[key].s, r.seq)), sev_ml: runs.map((r) => severity(r.scores[key].ml, TH[key].ml, r.seq)),
      label: runs.map((r) => { const l = labelState(r.seq); return l.state === 'awaiting' ? null : l.verdict; }) });
  }
  if (req.method === 'GET' && p === '/api/metrics') {
    const keys = KEYS.map((k) => {
      const one = (mm) => { let tp = 0; let fp = 0; let tn = 0; let fn = 0;
        for (const r of runs) { if (r.seq < HISTORICAL) continue; const l = labelState(r.seq); if (l.state !== 'recorded' && l.state !== 'auto') continue;
          const flagged = severity(r.scores[k.key][mm], TH[k.key][mm], r.seq) === 'bad'; const truth = l.verdict === 'bad';
          if (flagged && truth) tp++; else if (flagged) fp++; else if (truth) fn++; else tn++; }
        const sens = tp + fn ? tp / (tp + fn) : null; const spec = tn + fp ? tn / (tn + fp) : null;
        return { threshold_bad: TH[k.key][mm].bad, threshold_warning: TH[k.key][mm].warning, alpha: TH[k.key][mm].alpha, tp, fp, tn, fn,
          sensitivity: sens, specificity: spec, balanced_accuracy: sens !== null && spec !== null ? (sens + spec) / 2 : null }; };
      return { key: k.key, subsystem: k.subsystem, s: one('s'), ml: one('ml') };
    });
    return json(res, 200, { historical_runs: HISTORICAL, keys, counts: counts() });
  }
  if (req.method === 'GET' && p === '/api/events') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    res.write(': hello\n\n');
    clients.add(res);
    req.on('close', () => clients.delete(res));
    return undefined;
  }
  if (req.method === 'POST' && p === '/api/login') {
    if (!(req.headers['content-type'] || '').startsWith('application/json')) return json(res, 415, { error: 'Content-Type must be application/json' });
    let b; try { b = JSON.parse(await readBody(req)); } catch (e) { return json(res, 400, { error: 'body is not JSON' }); }
    if (!b || USERS[b.user] === undefined || USERS[b.user] !== b.password) return json(res, 401, { error: 'unknown user or wrong password' });
    const id = crypto.randomBytes(24).toString('base64url'); const csrf = crypto.randomBytes(24).toString('base64url');
    sessions.set(id, { user: b.user, csrf });
    return json(res, 200, { user: b.user, csrf }, { 'Set-Cookie': `dinamo_session=${id}; HttpOnly; SameSite=Strict; Path=/` });
  }
  if (req.method === 'POST' && (p === '/api/label' || p === '/api/logout')) {
    const s = session(req);
    if (!s) return json(res, 401, { error: 'not logged in' });
    if (req.headers['x-csrf-token'] !== s.csrf) return json(res, 403, { error: 'CSRF token missing or wrong' });
    if (req.headers.origin && req.headers.origin !== `http://${req.headers.host}`) return json(res, 403, { error: 'Origin mismatch' });
    if (p === '/api/logout') {
      for (const [id, v] of sessions) if (v === s) sessions.delete(id);
      return json(res, 200, {}, { 'Set-Cookie': 'dinamo_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0' });
    }
    let b; try { b = JSON.parse(await readBody(req)); } catch (e) { return json(res, 400, { error: 'body is not JSON' }); }
    if (!b || !Number.isInteger(b.seq) || !runs[b.seq]) return json(res, 400, { error: 'seq: not a run' });
    if (b.verdict !== 'good' && b.verdict !== 'bad') return json(res, 400, { error: 'verdict: good or bad' });
    if (typeof b.reason !== 'string') return json(res, 400, { error: 'reason: a string' });
    setTimeout(() => {
      labels[b.seq].push({ verdict: b.verdict, source: 'shifter', who: s.user, reason: b.reason, time: Date.now() / 1000, key: null });
      broadcast('run', RUN(b.seq));
      broadcast('summary', { counts: counts(), awaiting: summary(req).awaiting });
    }, 300);
    return json(res, 202, { sent: true });
  }
  return json(res, 404, { error: `no route ${req.method} ${p}` });
});

if (LIVE_MS > 0) {
  setInterval(() => {
    const seq = runs.length;
    makeRun(seq);
    broadcast('run', RUN(seq));
    broadcast('summary', { counts: counts(), awaiting: runs.filter((r) => !labels[r.seq].length).length });
  }, LIVE_MS).unref();
}
setInterval(() => { for (const c of clients) c.write(': ping\n\n'); }, 15000).unref();
server.listen(PORT, '127.0.0.1', () => console.log(`dashboard mock on http://127.0.0.1:${PORT}/`));
