// dinamo dashboard, the browser side: one page, hash routes, no framework.
//
//   #/                runs, newest first, live from /api/events (SSE)
//   #/?severity=bad&method=s&subsystem=X&awaiting=1&limit=N   the same, filtered
//   #/run/SEQ         a run: its histograms by score, the selected one drawn for
//                     S and ML against its reference (+-1 sigma) with pulls and
//                     the key's score history; label history; Good / Bad
//   #/key/KEY         a key's score history for both methods, the reference at a
//                     clicked run
//   #/metrics         per key and method: thresholds, alpha, confusion counts
//
// Invariants:
// - Every string that comes from the server reaches the DOM through
//   textContent / createTextNode / setAttribute (el() below); nothing here
//   assigns innerHTML, so a histogram key "<img src=x onerror=alert(1)>" is text.
// - The CSRF token lives only in memory (from the login reply or /api/summary).
// - window.dinamo exposes what the page shows, for the headless tests:
//   runs (RUN objects listed now), run (last /api/run reply), hist (last
//   /api/run/SEQ/hist reply), key (last /api/key reply), summary, metrics,
//   user, status {list, run, hist, key, sse, verdict}.
// - Severity is always shown as a word; the colour only repeats it.

const SEVERITIES = ['bad', 'warning', 'ok', 'insufficient', 'none'];
const METHODS = ['s', 'ml'];
const METHOD_NAME = { s: 'S', ml: 'ML' };
const SEV_COLOUR = {
  ok: '#3f8f4f', warning: '#d99a00', bad: '#c0392b', insufficient: '#8c919a', none: '#cfd3d8',
};
const MATRIX_RUNS = 60;
const PAGE_DEFAULT = 100;

const dinamo = {
  runs: [], run: null, hist: null, key: null, summary: null, metrics: null, user: null,
  status: { list: 'idle', run: 'idle', hist: 'idle', key: 'idle', sse: 'connecting', verdict: 'idle' },
};
window.dinamo = dinamo;

const state = {
  csrf: null,
  route: null,          // {view, ...}
  filters: {},          // runs view filters (from the hash query)
  nextBefore: null,     // paging cursor of the runs list
  recent: [],           // the latest MATRIX_RUNS runs, unfiltered (summary strip)
  refetchTimer: 0,
  plots: [],            // uPlot instances of the current view (destroyed on leave)
  viewToken: 0,         // bumps on every navigation: late replies of a left view are dropped
  selectedKey: null,
  keySeqShown: null,
  pendingVerdict: null, // {seq, verdict} sent, awaiting its SSE echo
};

// ---------- DOM helpers (the only way this file makes elements) ----------

// el('tag', {attr: value, class: 'x', on: {click: fn}, props: {value: 'v'}}, child...)
// Children that are strings or numbers become text nodes; null/undefined/false are skipped.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
      else if (k === 'props') Object.assign(e, v);
      else if (k === 'class') e.className = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(e, children);
  return e;
}
function append(parent, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return parent;
}
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
const $ = (id) => document.getElementById(id);

// ---------- formatting ----------

function fmtNum(x, digits = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toString();
}
function fmtExcess(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '';
  return (x >= 0 ? '+' : '−') + Math.abs(x).toFixed(2);
}
function fmtRatio(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return x.toFixed(3);
}
function pad2(n) { return String(n).padStart(2, '0'); }
// time: seconds since the epoch (a float) or null
function fmtTime(t) {
  if (t === null || t === undefined || !Number.isFinite(t)) return '–';
  if (t < 1e8) return fmtNum(t, 6);   // not a wall-clock time: show it as given
  const d = new Date(t * 1000);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
function sevRank(s) { return { bad: 4, warning: 3, ok: 2, insufficient: 1, none: 0 }[s] ?? 0; }
function worse(a, b) { return sevRank(a) >= sevRank(b) ? a : b; }

// The lagged horizon (DINAMO-S reference frozen that long ago) that made a
// histogram bad, beside its badge: a slow drift the current reference absorbed.
function hzTag(name) {
  return name ? el('span', {
    class: 'hz-tag', 'data-testid': 'hz-tag',
    title: `flagged against the reference of ${name} ago (the current one moved with a slow drift)`,
  }, name) : null;
}

function sevBadge(sev, extra) {
  const s = SEVERITIES.includes(sev) ? sev : 'none';
  return el('span', { class: `sev sev-${s}`, 'data-sev': s, title: extra ? `${extra}: ${s}` : s }, s);
}
function labelCell(label) {
  if (!label) return el('span', { class: 'lab lab-awaiting' }, 'awaiting');
  const v = label.verdict;
  const verdict = v ? el('span', { class: `verdict verdict-${v === 'bad' ? 'bad' : 'good'}` }, v) : null;
  switch (label.state) {
    case 'awaiting': return el('span', { class: 'lab lab-awaiting', 'data-label': 'awaiting' }, 'awaiting');
    case 'auto': return el('span', { class: 'lab', 'data-label': 'auto' }, 'auto-accepted ', verdict);
    case 'person':
      return el('span', { class: 'lab', 'data-label': 'person', title: label.reason || '' },
        verdict, ' by ', el('b', null, label.who || '?'),
        label.reason ? el('span', { class: 'reason' }, ' · ', label.reason) : null);
    case 'recorded': return el('span', { class: 'lab', 'data-label': 'recorded' }, 'recorded ', verdict);
    default: return el('span', { class: 'lab' }, String(label.state ?? '?'));
  }
}

// ---------- HTTP ----------

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
async function getJSON(path) {
  const r = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new HttpError(r.status, (body && body.error) || `${r.status} ${r.statusText}`);
  return body;
}
async function postJSON(path, payload, withCsrf) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (withCsrf && state.csrf) headers['X-CSRF-Token'] = state.csrf;
  const r = await fetch(path, {
    method: 'POST', credentials: 'same-origin', headers, body: JSON.stringify(payload ?? {}),
  });
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  return { status: r.status, ok: r.ok, body };
}
function errorBox(e, what) {
  const msg = e instanceof HttpError && e.status === 401
    ? `${what}: log in to view (${e.message})` : `${what}: ${e.message}`;
  return el('p', { class: 'error', role: 'alert', 'data-testid': 'error' }, msg);
}

// ---------- summary, login ----------

async function loadSummary() {
  try {
    const s = await getJSON('/api/summary');
    applySummary(s);
    dinamo.user = s.user ?? null;
    state.csrf = s.csrf ?? null;
    renderLogin();
  } catch (e) {
    $('stream').textContent = `summary: ${e.message}`;
  }
}
function applySummary(s) {
  if (!s) return;
  const prev = dinamo.summary || {};
  // an SSE "summary" may carry the whole summary or only its counts
  const next = s.counts || s.stream !== undefined ? { ...prev, ...s } : { ...prev, counts: s };
  dinamo.summary = next;
  const parts = [];
  if (next.stream) parts.push(next.stream);
  if (Number.isFinite(next.runs)) parts.push(`${next.runs} runs`);
  if (Number.isFinite(next.historical_runs)) parts.push(`historical ${next.historical_runs}`);
  if (Number.isFinite(next.awaiting)) parts.push(`${next.awaiting} awaiting a verdict`);
  if (next.ended) parts.push('stream ended');
  $('stream').textContent = parts.join(' · ');
  const counts = document.querySelector('[data-testid="counts"]');
  if (counts) counts.replaceWith(countsStrip(next.counts));
}

function renderLogin() {
  const box = clear($('login'));
  if (dinamo.user) {
    append(box, [
      el('span', { class: 'who', 'data-testid': 'login-user' }, dinamo.user),
      el('button', { type: 'button', 'data-testid': 'logout', on: { click: logout } }, 'log out'),
    ]);
    return;
  }
  const msg = el('span', { class: 'login-msg', 'data-testid': 'login-msg', role: 'status' });
  const user = el('input', { type: 'text', name: 'user', autocomplete: 'username', placeholder: 'user',
    'aria-label': 'user', 'data-testid': 'login-user-input', size: 10 });
  const pass = el('input', { type: 'password', name: 'password', autocomplete: 'current-password',
    placeholder: 'password', 'aria-label': 'password', 'data-testid': 'login-password', size: 10 });
  const form = el('form', { on: { submit: async (ev) => {
    ev.preventDefault();
    msg.textContent = '…';
    const r = await postJSON('/api/login', { user: user.value, password: pass.value }, false)
      .catch((e) => ({ status: 0, body: { error: e.message } }));
    if (r.status === 200 && r.body && r.body.csrf) {
      dinamo.user = r.body.user ?? user.value;
      state.csrf = r.body.csrf;
      renderLogin();
      refreshVerdictBox();
      // a dashboard that needs a login to view: the views and the event
      // stream refused before, now they can load
      if (dinamo.summary && dinamo.summary.login_required_to_view) {
        if (!source || source.readyState === EventSource.CLOSED) connectEvents();
        loadSummary();
        route(true);
      }
    } else {
      pass.value = '';
      msg.textContent = (r.body && r.body.error) || `login refused (${r.status})`;
    }
  } } }, user, pass, el('button', { type: 'submit', 'data-testid': 'login-submit' }, 'log in'), msg);
  box.appendChild(form);
}
async function logout() {
  await postJSON('/api/logout', {}, true).catch(() => null);
  dinamo.user = null;
  state.csrf = null;
  renderLogin();
  refreshVerdictBox();
}

// ---------- live updates ----------

let source = null;
function connectEvents() {
  if (!window.EventSource) return;
  if (source) source.close();
  source = new EventSource('/api/events');
  const live = $('live');
  const setLive = (s, text) => { dinamo.status.sse = s; live.textContent = text; live.dataset.state = s; };
  source.onopen = () => setLive('open', 'live');
  source.onerror = () => setLive('error', 'reconnecting…');
  source.addEventListener('run', (ev) => {
    let run;
    try { run = JSON.parse(ev.data); } catch (e) { return; }
    if (run && Number.isFinite(run.seq)) onRunEvent(run);
  });
  source.addEventListener('summary', (ev) => {
    try { applySummary(JSON.parse(ev.data)); } catch (e) { /* ignore a malformed event */ }
  });
  source.addEventListener('reset', () => {
    loadSummary();
    reloadView();
  });
}

function onRunEvent(run) {
  // the summary strip: unfiltered latest runs
  upsertSorted(state.recent, run, true);
  if (state.recent.length > MATRIX_RUNS) state.recent.length = MATRIX_RUNS;
  const route = state.route;
  if (route && route.view === 'runs') {
    updateListWithRun(run);
    scheduleMatrix();
  } else if (route && route.view === 'run' && route.seq === run.seq && dinamo.run) {
    const labelChanged = JSON.stringify(dinamo.run.run?.label) !== JSON.stringify(run.label);
    dinamo.run = { ...dinamo.run, run };
    renderRunHeader();
    if (labelChanged) reloadRunLabels();
  }
}

// insert or replace a run in an array sorted by seq descending; returns its index
function upsertSorted(arr, run, insert) {
  const i = arr.findIndex((r) => r.seq === run.seq);
  if (i >= 0) { arr[i] = run; return i; }
  if (!insert) return -1;
  let j = 0;
  while (j < arr.length && arr[j].seq > run.seq) j++;
  arr.splice(j, 0, run);
  return j;
}

// Does a run match the list's filters? null when only the server can say
// (the severity without a method and the subsystem filter follow the server's rule).
function matchesFilters(run, f) {
  if (f.awaiting && run.label && run.label.state !== 'awaiting') return false;
  if (f.subsystem) return null;
  if (f.severity) {
    if (!f.method) return null;
    return run[f.method] && run[f.method].severity === f.severity;
  }
  return true;
}

function updateListWithRun(run) {
  const f = state.filters;
  const listed = dinamo.runs.findIndex((r) => r.seq === run.seq);
  const match = matchesFilters(run, f);
  if (match === null) {
    // ask the server for the same window again, once things calm down
    clearTimeout(state.refetchTimer);
    state.refetchTimer = setTimeout(() => refetchWindow(), 400);
    if (listed >= 0) { dinamo.runs[listed] = run; replaceRow(run); }
    return;
  }
  if (!match) {
    if (listed >= 0) {
      dinamo.runs = dinamo.runs.filter((r) => r.seq !== run.seq);
      const row = document.querySelector(`tr[data-seq="${run.seq}"]`);
      if (row) row.remove();
      updateListCount();
    }
    return;
  }
  // a run older than the window shown belongs to the next page, unless all is shown
  const oldest = dinamo.runs.length ? dinamo.runs[dinamo.runs.length - 1].seq : Infinity;
  if (listed < 0 && state.nextBefore !== null && run.seq < oldest) return;
  const runs = dinamo.runs.slice();
  const idx = upsertSorted(runs, run, true);
  dinamo.runs = runs;
  if (listed >= 0) replaceRow(run);
  else insertRow(run, idx);
  updateListCount();
}

async function refetchWindow() {
  const route = state.route;
  if (!route || route.view !== 'runs') return;
  const token = state.viewToken;
  const n = Math.min(Math.max(dinamo.runs.length, state.filters.limit || PAGE_DEFAULT), 1000);
  try {
    const reply = await getJSON(runsQuery(state.filters, null, n));
    if (token !== state.viewToken) return;
    dinamo.runs = reply.runs || [];
    state.nextBefore = reply.next_before ?? null;
    renderRunRows();
  } catch (e) { /* keep what is shown; the next event retries */ }
}

// ---------- routing ----------

function parseRoute() {
  const h = location.hash.replace(/^#/, '') || '/';
  const [path, query] = h.split('?');
  const params = new URLSearchParams(query || '');
  let m;
  if ((m = path.match(/^\/run\/(\d+)\/?$/))) {
    return { view: 'run', seq: Number(m[1]), key: params.get('key') };
  }
  if ((m = path.match(/^\/key\/(.+)$/))) {
    let key;
    try { key = decodeURIComponent(m[1]); } catch (e) { key = m[1]; }
    const seq = params.get('seq');
    return { view: 'key', key, seq: seq !== null && /^\d+$/.test(seq) ? Number(seq) : null };
  }
  if (path === '/metrics') return { view: 'metrics' };
  const f = {};
  const sev = params.get('severity');
  if (SEVERITIES.includes(sev)) f.severity = sev;
  const meth = params.get('method');
  if (METHODS.includes(meth)) f.method = meth;
  if (params.get('subsystem')) f.subsystem = params.get('subsystem');
  if (params.get('awaiting') === '1') f.awaiting = true;
  const lim = Number(params.get('limit'));
  if (Number.isInteger(lim) && lim > 0) f.limit = Math.min(lim, 1000);
  return { view: 'runs', filters: f };
}
function runsHash(f) {
  const p = new URLSearchParams();
  if (f.severity) p.set('severity', f.severity);
  if (f.method) p.set('method', f.method);
  if (f.subsystem) p.set('subsystem', f.subsystem);
  if (f.awaiting) p.set('awaiting', '1');
  if (f.limit) p.set('limit', String(f.limit));
  const q = p.toString();
  return q ? `#/?${q}` : '#/';
}
function runsQuery(f, before, limit) {
  const p = new URLSearchParams();
  if (before !== null && before !== undefined) p.set('before', String(before));
  p.set('limit', String(limit || f.limit || PAGE_DEFAULT));
  if (f.severity) p.set('severity', f.severity);
  if (f.method) p.set('method', f.method);
  if (f.subsystem) p.set('subsystem', f.subsystem);
  if (f.awaiting) p.set('awaiting', '1');
  return `/api/runs?${p}`;
}
const keyHref = (key, seq) => `#/key/${encodeURIComponent(key)}${seq !== undefined && seq !== null ? `?seq=${seq}` : ''}`;
const runHref = (seq, key) => `#/run/${seq}${key ? `?key=${encodeURIComponent(key)}` : ''}`;

function leaveView() {
  for (const p of state.plots) p.destroy();
  state.plots = [];
  state.viewToken++;
  clearTimeout(state.refetchTimer);
}

function reloadView() { route(true); }
function route(force) {
  const r = parseRoute();
  const prev = state.route;
  // a click on a histogram only changes ?key= : keep the run page, redraw the key
  if (!force && prev && prev.view === 'run' && r.view === 'run' && prev.seq === r.seq) {
    state.route = r;
    if (r.key && r.key !== state.selectedKey) selectHistogram(r.key);
    return;
  }
  leaveView();
  state.route = r;
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('current', a.dataset.nav === r.view);
  }
  const view = clear($('view'));
  if (r.view === 'run') return showRun(view, r);
  if (r.view === 'key') return showKey(view, r);
  if (r.view === 'metrics') return showMetrics(view);
  state.filters = r.filters;
  return showRuns(view);
}

// ---------- #/ runs ----------

function countsStrip(counts) {
  const box = el('div', { class: 'counts', 'data-testid': 'counts' });
  if (!counts) return box;
  for (const m of METHODS) {
    const c = counts[m] || {};
    append(box, el('span', { class: 'counts-method' }, el('b', null, METHOD_NAME[m]),
      SEVERITIES.map((s) => el('a', {
        class: `count sev-${s}-text`, href: runsHash({ ...state.filters, severity: s, method: m }),
        title: `${METHOD_NAME[m]}: ${c[s] ?? 0} runs ${s}`, 'data-testid': `count-${m}-${s}`,
      }, el('span', { class: `dot sev-${s}` }), `${c[s] ?? 0} ${s}`))));
  }
  return box;
}

function filterBar() {
  const f = state.filters;
  const go = (patch) => { location.hash = runsHash({ ...f, ...patch }); };
  const sel = (testid, label, value, options, onchange) => el('label', null, label, ' ',
    el('select', { 'data-testid': testid, on: { change: (e) => onchange(e.target.value) } },
      options.map(([v, text]) => el('option', { value: v, props: { selected: v === (value || '') } }, text))));
  const subsystems = (dinamo.summary && dinamo.summary.subsystems) || [];
  const subOpts = [['', 'all'], ...subsystems.map((s) => [s, s])];
  if (f.subsystem && !subsystems.includes(f.subsystem)) subOpts.push([f.subsystem, f.subsystem]);
  return el('form', { class: 'filters', 'aria-label': 'filters', on: { submit: (e) => e.preventDefault() } },
    sel('filter-severity', 'severity', f.severity, [['', 'any'], ...SEVERITIES.map((s) => [s, s])],
      (v) => go({ severity: v || undefined })),
    sel('filter-method', 'method', f.method, [['', 'either'], ['s', 'S'], ['ml', 'ML']],
      (v) => go({ method: v || undefined })),
    sel('filter-subsystem', 'subsystem', f.subsystem, subOpts, (v) => go({ subsystem: v || undefined })),
    el('label', null, el('input', { type: 'checkbox', 'data-testid': 'filter-awaiting',
      props: { checked: !!f.awaiting }, on: { change: (e) => go({ awaiting: e.target.checked || undefined }) } }),
    ' awaiting a verdict'),
    (f.severity || f.method || f.subsystem || f.awaiting)
      ? el('a', { href: runsHash({ limit: f.limit }), 'data-testid': 'filter-clear' }, 'clear filters') : null,
    el('span', { class: 'list-count', 'data-testid': 'list-count' }));
}

async function showRuns(view) {
  const token = state.viewToken;
  dinamo.status.list = 'loading';
  dinamo.runs = [];
  append(view, [
    el('section', { class: 'strip', 'aria-label': 'recent runs by subsystem' },
      el('div', { class: 'strip-head' }, el('h2', null, 'Recent runs by subsystem'),
        countsStrip(dinamo.summary && dinamo.summary.counts)),
      el('div', { id: 'matrix', class: 'matrix-wrap' })),
    filterBar(),
    el('table', { class: 'runs', 'data-testid': 'runs-table' },
      el('thead', null, el('tr', null,
        el('th', { scope: 'col' }, 'run'), el('th', { scope: 'col' }, 'time'),
        el('th', { scope: 'col' }, 'S'), el('th', { scope: 'col', class: 'num' }, 'S score'),
        el('th', { scope: 'col' }, 'ML'), el('th', { scope: 'col', class: 'num' }, 'ML score'),
        el('th', { scope: 'col' }, 'worst histograms (excess over threshold)'),
        el('th', { scope: 'col' }, 'label'))),
      el('tbody', { id: 'run-rows' })),
    el('div', { class: 'more' }, el('button', { type: 'button', id: 'older', 'data-testid': 'older',
      hidden: true, on: { click: loadOlder } }, 'older runs')),
  ]);
  try {
    const [list, recent] = await Promise.all([
      getJSON(runsQuery(state.filters, null)),
      (Object.keys(state.filters).some((k) => k !== 'limit') || (state.filters.limit || PAGE_DEFAULT) < MATRIX_RUNS)
        ? getJSON(`/api/runs?limit=${MATRIX_RUNS}`) : null,
    ]);
    if (token !== state.viewToken) return;
    dinamo.runs = list.runs || [];
    state.nextBefore = list.next_before ?? null;
    state.recent = (recent ? recent.runs : dinamo.runs).slice(0, MATRIX_RUNS);
    renderRunRows();
    renderMatrix();
    dinamo.status.list = 'ready';
  } catch (e) {
    if (token !== state.viewToken) return;
    dinamo.status.list = 'error';
    view.insertBefore(errorBox(e, 'runs'), view.firstChild);
  }
}

async function loadOlder() {
  if (state.nextBefore === null) return;
  const token = state.viewToken;
  const btn = $('older');
  btn.disabled = true;
  dinamo.status.list = 'loading';
  try {
    const reply = await getJSON(runsQuery(state.filters, state.nextBefore));
    if (token !== state.viewToken) return;
    const have = new Set(dinamo.runs.map((r) => r.seq));
    const add = (reply.runs || []).filter((r) => !have.has(r.seq));
    dinamo.runs = dinamo.runs.concat(add);
    state.nextBefore = reply.next_before ?? null;
    const body = $('run-rows');
    for (const r of add) body.appendChild(runRow(r));
    updateListCount();
    dinamo.status.list = 'ready';
  } catch (e) {
    dinamo.status.list = 'error';
    btn.after(errorBox(e, 'older runs'));
  } finally {
    btn.disabled = false;
  }
}

function updateListCount() {
  const c = document.querySelector('[data-testid="list-count"]');
  if (c) c.textContent = `${dinamo.runs.length} runs listed${state.nextBefore !== null ? ' (more below)' : ''}`;
  const older = $('older');
  if (older) older.hidden = state.nextBefore === null;
}

function renderRunRows() {
  const body = $('run-rows');
  if (!body) return;
  clear(body);
  if (!dinamo.runs.length) {
    body.appendChild(el('tr', { class: 'empty' }, el('td', { colspan: 8 }, 'no runs match')));
  }
  for (const r of dinamo.runs) body.appendChild(runRow(r));
  updateListCount();
}
function replaceRow(run) {
  const row = document.querySelector(`tr[data-seq="${run.seq}"]`);
  if (row) {
    const fresh = runRow(run);
    fresh.classList.add('flash');
    row.replaceWith(fresh);
  }
}
function insertRow(run, idx) {
  const body = $('run-rows');
  if (!body) return;
  const empty = body.querySelector('tr.empty');
  if (empty) empty.remove();
  const row = runRow(run);
  row.classList.add('flash');
  body.insertBefore(row, body.children[idx] || null);
}

function worstList(run) {
  const items = [];
  for (const m of METHODS) {
    const w = (run[m] && run[m].worst) || [];
    for (const h of w) {
      items.push(el('li', null, el('span', { class: 'm' }, METHOD_NAME[m]), ' ',
        el('a', { href: runHref(run.seq, h.key), class: 'key', title: h.key }, h.key), ' ',
        el('span', { class: h.excess > 0 ? 'excess' : 'excess below' }, fmtExcess(h.excess)),
        h.fired ? ' ' : null, hzTag(h.fired)));
    }
  }
  return items.length ? el('ul', { class: 'worst' }, items) : el('span', { class: 'muted' }, '–');
}

function runRow(r) {
  const sevCell = (m) => {
    const x = r[m] || {};
    return el('td', { class: 'sevcell', 'data-method': m }, sevBadge(x.severity, METHOD_NAME[m]));
  };
  const scoreCell = (m) => {
    const x = r[m] || {};
    return el('td', { class: 'num', title: `${x.scored ?? 0} of ${r.n_hist ?? '?'} histograms scored` },
      fmtNum(x.score));
  };
  const worst = worse(r.s?.severity, r.ml?.severity);
  return el('tr', { 'data-testid': 'run-row', 'data-seq': r.seq, class: `row-${worst}` },
    el('td', null, el('a', { href: runHref(r.seq), class: 'runno', 'data-testid': 'run-link' }, String(r.run)),
      el('span', { class: 'seq' }, ` #${r.seq}`)),
    el('td', { class: 'time' }, fmtTime(r.time)),
    sevCell('s'), scoreCell('s'), sevCell('ml'), scoreCell('ml'),
    el('td', null, worstList(r)),
    el('td', null, labelCell(r.label)));
}

// many events a second while the stream runs: redraw the strip once a frame at most
let matrixFrame = 0;
function scheduleMatrix() {
  if (matrixFrame) return;
  matrixFrame = requestAnimationFrame(() => { matrixFrame = 0; renderMatrix(); });
}
function renderMatrix() {
  const wrap = $('matrix');
  if (!wrap) return;
  clear(wrap);
  const runs = state.recent.slice(0, MATRIX_RUNS).reverse();   // oldest left, newest right
  const subs = ((dinamo.summary && dinamo.summary.subsystems) || []).slice();
  for (const r of runs) for (const s of Object.keys(r.subsystems || {})) if (!subs.includes(s)) subs.push(s);
  if (!runs.length) { wrap.appendChild(el('p', { class: 'muted' }, 'no runs yet')); return; }
  const table = el('table', { class: 'matrix', 'data-testid': 'matrix' });
  const head = el('tr', null, el('th', { scope: 'col', class: 'corner' }, 'subsystem \\ run'));
  runs.forEach((r, i) => {
    const show = i === 0 || i === runs.length - 1 || i % 10 === 0;
    head.appendChild(el('th', { scope: 'col', class: 'mcol' },
      el('a', { href: runHref(r.seq), title: `run ${r.run} (#${r.seq})`, 'aria-label': `run ${r.run}` },
        show ? String(r.run) : '')));
  });
  table.appendChild(el('thead', null, head));
  const body = el('tbody');
  const rowFor = (name, sevOf) => {
    const tr = el('tr', null, el('th', { scope: 'row' }, name));
    for (const r of runs) {
      const [sev, detail] = sevOf(r);
      const td = el('td', {
        class: `cell sev-${sev}`, 'data-seq': r.seq, 'data-sev': sev,
        title: `run ${r.run} (#${r.seq}) · ${name}: ${detail}`,
        on: { click: () => { location.hash = runHref(r.seq); } },
      });
      tr.appendChild(td);
    }
    return tr;
  };
  body.appendChild(rowFor('run (S|ML)', (r) => {
    const s = r.s?.severity || 'none'; const m = r.ml?.severity || 'none';
    return [worse(s, m), `S ${s}, ML ${m}`];
  }));
  for (const name of subs) {
    body.appendChild(rowFor(name, (r) => {
      const x = (r.subsystems || {})[name];
      if (!x) return ['none', 'not in this run'];
      return [worse(x.s, x.ml), `S ${x.s}, ML ${x.ml}`];
    }));
  }
  table.appendChild(body);
  wrap.appendChild(table);
  wrap.appendChild(el('div', { class: 'legend' }, 'colour = the worse of S and ML: ',
    SEVERITIES.map((s) => el('span', { class: 'legend-item' }, el('span', { class: `swatch sev-${s}` }), s))));
}

// ---------- plots (uPlot) ----------

const plotFont = '11px system-ui, sans-serif';
function axis(label, extra) {
  return { label, font: plotFont, labelFont: plotFont, size: 44, labelSize: 14, stroke: '#444',
    grid: { stroke: '#e6e8eb', width: 1 }, ticks: { stroke: '#c9ccd1', width: 1 }, ...extra };
}
function plotWidth(container, fallback) {
  const w = container.clientWidth;
  return Math.max(260, (w || fallback) - 4);
}
function makePlot(opts, data, container) {
  const u = new uPlot(opts, data, container);
  state.plots.push(u);
  return u;
}
// binning: x = bin centres from edges, or bin index when the server sent none
function binCentres(hist, n) {
  const e = hist.edges;
  if (Array.isArray(e) && e.length === n + 1) return Array.from({ length: n }, (_, i) => (e[i] + e[i + 1]) / 2);
  return Array.from({ length: n }, (_, i) => i);
}
const finite = (x) => (x === null || x === undefined || !Number.isFinite(x) ? null : x);

// The histogram against the reference that scored it: counts scaled to the
// reference's normalisation, reference line with a +-1 sigma band; below, pulls.
function drawHistPanel(container, hist, m) {
  const sc = hist[m];
  // fired by a lagged horizon: the reference, pulls and score are that horizon's
  const lagged = sc && sc.horizon && sc.horizon !== 'now' ? sc.horizon : null;
  const title = el('h4', null, `${METHOD_NAME[m]} `, sc ? sevBadge(severityOf(hist, m), METHOD_NAME[m]) : null,
    lagged ? ' ' : null, hzTag(lagged),
    sc ? el('span', { class: 'muted' }, lagged
      ? ` against the reference of ${lagged} ago: score ${fmtNum(sc.score)} · its bad ${fmtNum(sc.threshold_bad)} · now's score ${fmtNum(sc.now_score)}`
      : ` score ${fmtNum(sc.score)} · bad ${fmtNum(sc.threshold_bad)} · warning ${fmtNum(sc.threshold_warning)}`) : null);
  container.appendChild(title);
  if (!hist.detail || !sc || !Array.isArray(sc.reference) || !sc.reference.length || !Array.isArray(hist.counts)) {
    container.appendChild(el('p', { class: 'muted', 'data-testid': `no-detail-${m}` },
      !hist.detail ? 'detail pruned (outside the retention window): scores only'
        : 'no reference for this method (not scored, or scored without pulls)'));
    return;
  }
  const n = hist.counts.length;
  const x = binCentres(hist, n);
  const ref = sc.reference.map(finite);
  const sig = (sc.sigma || []).map(finite);
  const total = hist.counts.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  const refTotal = ref.reduce((a, b) => a + (b ?? 0), 0);
  const scale = total > 0 ? refTotal / total : 0;
  const data = hist.counts.map((c) => finite(c * scale));
  const lo = ref.map((r, i) => (r === null || sig[i] === null || sig[i] === undefined ? null : r - sig[i]));
  const hi = ref.map((r, i) => (r === null || sig[i] === null || sig[i] === undefined ? null : r + sig[i]));
  const w = plotWidth(container, 460);
  const sync = uPlot.sync(`hist-${m}`);
  // A 2-D map is drawn here in its monitored (flattened) order; the map of
  // its pulls follows below.
  const ny = hist.n_bins_y | 0;
  makePlot({
    width: w, height: 210, cursor: { sync: { key: sync.key }, drag: { x: true, y: false } },
    legend: { show: true, live: true },
    scales: { x: { time: false } },
    axes: [axis(ny > 0 ? `flattened bin: ix·${ny} + iy` : null), axis('normalised')],
    series: [
      { label: ny > 0 ? 'bin' : 'x', value: (u, v) => fmtNum(v, 4) },
      { label: '+1σ', stroke: 'rgba(70,110,170,0.35)', width: 1, value: (u, v) => fmtNum(v), points: { show: false } },
      { label: '−1σ', stroke: 'rgba(70,110,170,0.35)', width: 1, value: (u, v) => fmtNum(v), points: { show: false } },
      { label: lagged ? `reference (${lagged} ago)` : 'reference', stroke: '#2f5d9a', width: 1.5, value: (u, v) => fmtNum(v), points: { show: false } },
      { label: 'this run', stroke: '#111', width: 0, paths: () => null,
        points: { show: true, size: 4, fill: '#111', stroke: '#111' }, value: (u, v) => fmtNum(v) },
    ],
    bands: [{ series: [1, 2], fill: 'rgba(70,110,170,0.18)' }],
  }, [x, hi, lo, ref, data], container);
  const pulls = (sc.pulls || []).map(finite);
  if (sc.worst_bins) {
    container.appendChild(el('p', { class: 'muted worst-bins', 'data-testid': `worst-bins-${m}` },
      `worst bins (pull${lagged ? ` against ${lagged}` : ''}): ${sc.worst_bins}`));
  }
  if (ny > 0 && n % ny === 0 && pulls.length === n) {
    drawPullMap(container, hist, pulls, ny, w, m);
    return;
  }
  makePlot({
    width: w, height: 120, cursor: { sync: { key: sync.key }, drag: { x: true, y: false } },
    legend: { show: false },
    scales: { x: { time: false } },
    axes: [axis(hist.key.length > 60 ? 'bin' : hist.key), axis(lagged ? `pull vs ${lagged}` : 'pull')],
    series: [
      {},
      { label: 'pull', fill: 'rgba(192,57,43,0.55)', stroke: '#8e2b20', width: 0,
        paths: uPlot.paths.bars({ size: [0.85, 40] }), fillTo: 0, points: { show: false } },
    ],
  }, [x, pulls], container);
}
// A 2-D histogram's pulls as a heat map: the flattened bins (x outer, y
// inner: bin ix * ny + iy) as cells of equal size, x to the right, y up,
// blue below the reference, white at 0, red above, on a scale symmetric
// about 0 (at least +-5); the bin under the pointer is named in the title.
function pullColour(p, pmax) {
  if (p === null) return '#f3f3f3';
  const t = Math.max(-1, Math.min(1, p / pmax));
  const end = t < 0 ? [33, 102, 172] : [178, 24, 43];
  const f = Math.abs(t);
  const c = end.map((e) => Math.round(255 + f * (e - 255)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}
function drawPullMap(container, hist, pulls, ny, width, m) {
  const nx = pulls.length / ny;
  const pmax = Math.max(5, ...pulls.map((p) => (p === null ? 0 : Math.abs(p))));
  const left = 44, bottom = 30, top = 6, barW = 12, right = 54;
  const cw = Math.max(1, Math.floor((width - left - right) / nx));
  const ch = Math.max(1, Math.min(cw, Math.floor(240 / ny)));
  const canvas = el('canvas', { class: 'pull-map', 'data-testid': `pull-map-${m}` });
  canvas.width = left + cw * nx + right;
  canvas.height = top + ch * ny + bottom;
  const g = canvas.getContext('2d');
  if (!g) return;
  for (let ix = 0; ix < nx; ix++) {
    for (let iy = 0; iy < ny; iy++) {
      g.fillStyle = pullColour(pulls[ix * ny + iy], pmax);
      g.fillRect(left + ix * cw, top + (ny - 1 - iy) * ch, cw, ch);
    }
  }
  g.strokeStyle = '#444';
  g.strokeRect(left - 0.5, top - 0.5, cw * nx + 1, ch * ny + 1);
  for (let ix = 0; ix < nx; ix++) {
    for (let iy = 0; iy < ny; iy++) {
      const p = pulls[ix * ny + iy];
      if (p !== null && Math.abs(p) > 3) g.strokeRect(left + ix * cw + 0.5, top + (ny - 1 - iy) * ch + 0.5, cw - 1, ch - 1);
    }
  }
  // colour bar
  const bx = left + cw * nx + 10, bh = ch * ny;
  for (let i = 0; i < bh; i++) {
    g.fillStyle = pullColour(pmax * (1 - (2 * i) / bh), pmax);
    g.fillRect(bx, top + i, barW, 1);
  }
  g.fillStyle = '#444';
  g.font = plotFont;
  g.textBaseline = 'middle';
  g.fillText(`+${fmtNum(pmax, 2)}`, bx + barW + 3, top + 5);
  g.fillText('0', bx + barW + 3, top + bh / 2);
  g.fillText(`−${fmtNum(pmax, 2)}`, bx + barW + 3, top + bh - 5);
  const ex = Array.isArray(hist.edges) && hist.edges.length === nx + 1 ? hist.edges : null;
  const ey = Array.isArray(hist.edges_y) && hist.edges_y.length === ny + 1 ? hist.edges_y : null;
  g.textBaseline = 'top';
  g.textAlign = 'center';
  g.fillText(ex ? `x ${fmtNum(ex[0], 4)} … ${fmtNum(ex[nx], 4)}` : `x bin 0 … ${nx - 1}`, left + (cw * nx) / 2, top + bh + 14);
  g.save();
  g.translate(12, top + bh / 2);
  g.rotate(-Math.PI / 2);
  g.fillText(ey ? `y ${fmtNum(ey[0], 4)} … ${fmtNum(ey[ny], 4)}` : `y bin 0 … ${ny - 1}`, 0, 0);
  g.restore();
  canvas.title = `pulls of ${nx}×${ny} bins (|pull| > 3 framed)`;
  canvas.addEventListener('mousemove', (ev) => {
    const r = canvas.getBoundingClientRect();
    const px = (ev.clientX - r.left) * (canvas.width / r.width), py = (ev.clientY - r.top) * (canvas.height / r.height);
    const ix = Math.floor((px - left) / cw), iy = ny - 1 - Math.floor((py - top) / ch);
    if (ix < 0 || ix >= nx || iy < 0 || iy >= ny) { canvas.title = `pulls of ${nx}×${ny} bins (|pull| > 3 framed)`; return; }
    const at = ex && ey ? ` at (${fmtNum((ex[ix] + ex[ix + 1]) / 2, 4)}, ${fmtNum((ey[iy] + ey[iy + 1]) / 2, 4)})` : '';
    canvas.title = `bin (${ix},${iy})${at}: pull ${fmtNum(pulls[ix * ny + iy], 3)}`;
  });
  container.appendChild(el('div', { class: 'pull-map-wrap' }, canvas));
}
function severityOf(hist, m) {
  const k = dinamo.key;
  if (k && k.key === hist.key && Array.isArray(k.seq)) {
    const i = k.seq.indexOf(hist.seq);
    const sev = i >= 0 && k[`sev_${m}`] ? k[`sev_${m}`][i] : null;
    if (sev) return sev;
  }
  const r = dinamo.run && dinamo.run.histograms && dinamo.run.histograms.find((h) => h.key === hist.key);
  return (r && r[m] && r[m].severity) || 'none';
}

// A score history: score per run, bad and warning thresholds as lines, bad
// labels as red points, one run marked.
function drawHistory(container, keyReply, m, markSeq, onPick, height) {
  const xs = keyReply.seq || [];
  const ys = (keyReply[m] || []).map(finite);
  const th = (keyReply.thresholds && keyReply.thresholds[m]) || {};
  const bad = finite(th.bad);
  const warn = finite(th.warning);
  const labels = keyReply.label || [];
  const badPts = ys.map((y, i) => (labels[i] === 'bad' ? y : null));
  const goodPts = ys.map((y, i) => (labels[i] === 'good' ? y : null));
  const marked = xs.map((s, i) => (s === markSeq ? ys[i] : null));
  const series = [
    { label: 'seq', value: (u, v) => (v === null ? '–' : String(v)) },
    { label: 'labelled good', stroke: '#7fb98a', width: 0, paths: () => null,
      points: { show: true, size: 7, width: 1, fill: 'rgba(0,0,0,0)', stroke: '#8cc497' }, value: (u, v) => fmtNum(v) },
    { label: `${METHOD_NAME[m]} score`, stroke: '#3b4a5c', width: 0, paths: () => null,
      points: { show: true, size: 3, fill: '#3b4a5c', stroke: '#3b4a5c' }, value: (u, v) => fmtNum(v) },
    { label: 'bad', stroke: SEV_COLOUR.bad, width: 1.5, dash: [6, 3], value: (u, v) => fmtNum(v),
      points: { show: false } },
    { label: 'warning', stroke: SEV_COLOUR.warning, width: 1.5, dash: [2, 3], value: (u, v) => fmtNum(v),
      points: { show: false } },
    { label: 'labelled bad', stroke: '#c0392b', width: 0, paths: () => null,
      points: { show: true, size: 7, fill: '#c0392b', stroke: '#7a1d12' }, value: (u, v) => fmtNum(v) },
    { label: 'this run', stroke: '#000', width: 0, paths: () => null,
      points: { show: true, size: 11, fill: 'rgba(0,0,0,0)', stroke: '#000', width: 2 }, value: (u, v) => fmtNum(v) },
  ];
  const data = [xs, goodPts, ys, xs.map(() => bad), xs.map(() => warn), badPts, marked];
  const w = plotWidth(container, 460);
  let downAt = null;
  const u = makePlot({
    width: w, height: height || 200,
    cursor: { drag: { x: true, y: false, setScale: true }, points: { size: 6 } },
    legend: { show: true, live: true },
    scales: { x: { time: false } },
    axes: [axis('run seq'), axis(`${METHOD_NAME[m]} score`)],
    series,
    hooks: onPick ? {
      ready: [(uu) => {
        uu.over.addEventListener('mousedown', (e) => { downAt = [e.clientX, e.clientY]; });
        uu.over.addEventListener('mouseup', (e) => {
          if (!downAt) return;
          const moved = Math.abs(e.clientX - downAt[0]) + Math.abs(e.clientY - downAt[1]);
          downAt = null;
          const idx = uu.cursor.idx;
          if (moved < 4 && idx !== null && idx !== undefined) onPick(xs[idx]);
        });
      }],
    } : {},
  }, data, container);
  u.dinamoMark = (seq) => {
    data[data.length - 1] = xs.map((s, i) => (s === seq ? ys[i] : null));
    u.setData(data, false);   // keep the zoom
  };
  return u;
}

// ---------- #/run/SEQ ----------

async function showRun(view, r) {
  const token = state.viewToken;
  dinamo.status.run = 'loading';
  dinamo.run = null;
  state.selectedKey = null;
  append(view, [
    el('div', { class: 'run-head', id: 'run-head' }, el('h2', null, `Run #${r.seq}`)),
    el('div', { class: 'run-grid' },
      el('section', { class: 'hists', 'aria-label': 'histograms by score' },
        el('h3', null, 'Histograms, worst first'),
        el('input', { type: 'search', placeholder: 'filter keys', 'aria-label': 'filter histogram keys',
          'data-testid': 'hist-filter', on: { input: (e) => filterHistRows(e.target.value) } }),
        el('div', { class: 'hist-scroll' }, el('table', { class: 'hist-table', 'data-testid': 'hist-table' },
          el('thead', null, el('tr', null,
            el('th', { scope: 'col' }, 'key'), el('th', { scope: 'col' }, 'subsystem'),
            el('th', { scope: 'col', class: 'num' }, 'S'), el('th', { scope: 'col' }, ''),
            el('th', { scope: 'col', class: 'num' }, 'excess'),
            el('th', { scope: 'col', class: 'num' }, 'ML'), el('th', { scope: 'col' }, ''),
            el('th', { scope: 'col', class: 'num' }, 'excess'))),
          el('tbody', { id: 'hist-rows' })))),
      el('section', { class: 'detail', 'aria-label': 'selected histogram' },
        el('div', { id: 'detail-head', class: 'detail-head' }),
        el('div', { class: 'pair' },
          el('div', { class: 'panel', id: 'panel-s' }), el('div', { class: 'panel', id: 'panel-ml' })),
        el('h3', null, 'Score history of this key'),
        el('div', { class: 'pair' },
          el('div', { class: 'panel', id: 'hist-s' }), el('div', { class: 'panel', id: 'hist-ml' })))),
    el('div', { class: 'run-bottom' },
      el('section', { class: 'verdict-box', id: 'verdict', 'aria-label': 'verdict' }),
      el('section', { class: 'labels', 'aria-label': 'label history' },
        el('h3', null, 'Label history'), el('div', { id: 'label-history' }))),
  ]);
  try {
    const reply = await getJSON(`/api/run/${r.seq}`);
    if (token !== state.viewToken) return;
    dinamo.run = reply;
    renderRunHeader();
    renderHistRows();
    renderLabels();
    refreshVerdictBox();
    dinamo.status.run = 'ready';
    const hs = reply.histograms || [];
    const first = (r.key && hs.find((h) => h.key === r.key)) ? r.key : (hs[0] && hs[0].key);
    if (first) await selectHistogram(first);
  } catch (e) {
    if (token !== state.viewToken) return;
    dinamo.status.run = 'error';
    view.insertBefore(errorBox(e, `run #${r.seq}`), view.firstChild);
  }
}

function renderRunHeader() {
  const head = $('run-head');
  if (!head || !dinamo.run) return;
  const run = dinamo.run.run || {};
  clear(head);
  append(head, [
    el('h2', null, `Run ${run.run ?? '?'}`, el('span', { class: 'seq' }, ` #${run.seq}`)),
    el('span', { class: 'time' }, fmtTime(run.time)),
    METHODS.map((m) => el('span', { class: 'headsev', 'data-testid': `run-sev-${m}` },
      `${METHOD_NAME[m]} `, sevBadge(run[m]?.severity, METHOD_NAME[m]), ' ', fmtNum(run[m]?.score),
      el('span', { class: 'muted' }, ` (${run[m]?.scored ?? 0}/${run.n_hist ?? '?'} scored)`))),
    el('span', { class: 'headlabel', 'data-testid': 'run-label' }, labelCell(run.label)),
    el('span', { class: 'runnav' },
      el('a', { href: runHref(run.seq + 1), 'data-testid': 'run-next' }, '← newer'), ' ',
      el('a', { href: runHref(Math.max(0, run.seq - 1)), 'data-testid': 'run-prev' }, 'older →')),
  ]);
}

function renderHistRows() {
  const body = $('hist-rows');
  if (!body) return;
  clear(body);
  for (const h of dinamo.run.histograms || []) {
    const cells = (m) => {
      const x = h[m] || {};
      // a lagged horizon that fired: its margin over its own threshold, and its name
      const ex = x.fired ? x.margin : x.excess;
      return [
        el('td', { class: 'num', title: x.status ? `status ${x.status}` : null }, fmtNum(x.score)),
        el('td', null, sevBadge(x.severity, METHOD_NAME[m]), x.fired ? ' ' : null, hzTag(x.fired)),
        el('td', { class: ex > 0 ? 'num excess' : 'num excess below' }, fmtExcess(ex)),
      ];
    };
    const select = () => { location.hash = runHref(dinamo.run.run.seq, h.key); };
    body.appendChild(el('tr', {
      'data-testid': 'hist-row', 'data-key': h.key, class: h.key === state.selectedKey ? 'selected' : null,
      on: { click: (e) => { if (!e.target.closest('a')) select(); } },
    },
    el('td', { class: 'key' }, el('a', { href: runHref(dinamo.run.run.seq, h.key), title: h.key }, h.key)),
    el('td', null, h.subsystem ?? ''), cells('s'), cells('ml')));
  }
}
function filterHistRows(text) {
  const t = text.toLowerCase();
  for (const tr of document.querySelectorAll('#hist-rows tr')) {
    tr.hidden = t !== '' && !(tr.dataset.key || '').toLowerCase().includes(t);
  }
}

async function selectHistogram(key) {
  const token = state.viewToken;
  const seq = dinamo.run.run.seq;
  state.selectedKey = key;
  for (const tr of document.querySelectorAll('#hist-rows tr')) tr.classList.toggle('selected', tr.dataset.key === key);
  const head = clear($('detail-head'));
  append(head, el('h3', null, el('span', { class: 'key' }, key), ' ',
    el('a', { href: keyHref(key, seq), 'data-testid': 'key-link' }, 'history of this key →')));
  // destroy the previous histogram's plots
  for (const p of state.plots) p.destroy();
  state.plots = [];
  for (const id of ['panel-s', 'panel-ml', 'hist-s', 'hist-ml']) clear($(id)).appendChild(el('p', { class: 'muted' }, 'loading…'));
  dinamo.status.hist = 'loading';
  dinamo.status.key = 'loading';
  try {
    const [hist, kr] = await Promise.all([
      getJSON(`/api/run/${seq}/hist?key=${encodeURIComponent(key)}`),
      getJSON(`/api/key?key=${encodeURIComponent(key)}`),
    ]);
    if (token !== state.viewToken || state.selectedKey !== key) return;
    dinamo.hist = hist;
    dinamo.key = kr;
    for (const m of METHODS) {
      drawHistPanel(clear($(`panel-${m}`)), hist, m);
      const box = clear($(`hist-${m}`));
      box.appendChild(el('h4', null, `${METHOD_NAME[m]} `, el('span', { class: 'muted' },
        `bad ${fmtNum(kr.thresholds?.[m]?.bad)} · warning ${fmtNum(kr.thresholds?.[m]?.warning)}` +
        ` · ${kr.thresholds?.[m]?.origin ?? 'no threshold'}`)));
      drawHistory(box, kr, m, seq, (s) => { location.hash = runHref(s, key); }, 170);
    }
    dinamo.status.hist = 'ready';
    dinamo.status.key = 'ready';
  } catch (e) {
    if (token !== state.viewToken) return;
    dinamo.status.hist = 'error';
    dinamo.status.key = 'error';
    clear($('panel-s')).appendChild(errorBox(e, key));
    clear($('panel-ml'));
  }
}

function renderLabels() {
  const box = $('label-history');
  if (!box || !dinamo.run) return;
  clear(box);
  const labels = dinamo.run.labels || [];
  if (!labels.length) { box.appendChild(el('p', { class: 'muted' }, 'no label yet: awaiting a verdict')); return; }
  box.appendChild(el('table', { class: 'label-table', 'data-testid': 'label-table' },
    el('thead', null, el('tr', null, ['time', 'verdict', 'source', 'who', 'reason', 'key'].map((t) => el('th', { scope: 'col' }, t)))),
    el('tbody', null, labels.map((l) => el('tr', null,
      el('td', { class: 'time' }, fmtTime(l.time)),
      el('td', null, el('span', { class: `verdict verdict-${l.verdict === 'bad' ? 'bad' : 'good'}` }, l.verdict ?? '?')),
      el('td', null, l.source ?? ''), el('td', null, l.who ?? ''), el('td', null, l.reason ?? ''),
      el('td', { class: 'key' }, l.key ?? '(whole run)'))))));
}
async function reloadRunLabels() {
  const token = state.viewToken;
  const seq = state.route && state.route.seq;
  try {
    const reply = await getJSON(`/api/run/${seq}`);
    if (token !== state.viewToken || !dinamo.run) return;
    dinamo.run = { ...dinamo.run, run: reply.run, labels: reply.labels };
    renderRunHeader();
    renderLabels();
    const p = state.pendingVerdict;
    if (p && p.seq === seq && reply.run && reply.run.label && reply.run.label.state === 'person') {
      state.pendingVerdict = null;
      setVerdictStatus('recorded', `recorded: ${reply.run.label.verdict} by ${reply.run.label.who ?? '?'}`);
      const reason = document.querySelector('[data-testid="verdict-reason"]');
      if (reason) reason.value = '';
    }
  } catch (e) { /* the next event retries */ }
}

function setVerdictStatus(st, text) {
  dinamo.status.verdict = st;
  const s = document.querySelector('[data-testid="verdict-status"]');
  if (s) { s.textContent = text; s.dataset.state = st; }
}
function refreshVerdictBox() {
  const box = $('verdict');
  if (!box || !dinamo.run) return;
  const seq = dinamo.run.run.seq;
  const prevStatus = document.querySelector('[data-testid="verdict-status"]');
  const keepText = prevStatus ? prevStatus.textContent : '';
  clear(box);
  const logged = !!dinamo.user;
  const reason = el('input', { type: 'text', id: 'verdict-reason', 'data-testid': 'verdict-reason', maxlength: 500,
    placeholder: logged ? 'reason (what you saw)' : 'log in to give a verdict', disabled: !logged, size: 40 });
  const send = async (verdict) => {
    setVerdictStatus('sending', `sending ${verdict}…`);
    for (const b of box.querySelectorAll('button')) b.disabled = true;
    const r = await postJSON('/api/label', { seq, verdict, reason: reason.value }, true)
      .catch((e) => ({ status: 0, body: { error: e.message } }));
    for (const b of box.querySelectorAll('button')) b.disabled = !dinamo.user;
    if (r.status === 202) {
      state.pendingVerdict = { seq, verdict };
      setVerdictStatus('sent', `sent ${verdict}: waiting for the events log…`);
    } else {
      if (r.status === 401) { dinamo.user = null; state.csrf = null; renderLogin(); refreshVerdictBox(); }
      setVerdictStatus('refused', `refused (${r.status}): ${(r.body && r.body.error) || 'no reason given'}`);
    }
  };
  append(box, [
    el('h3', null, 'Verdict on this run'),
    el('label', { for: 'verdict-reason' }, 'reason '), reason,
    el('button', { type: 'button', class: 'good', 'data-testid': 'verdict-good', disabled: !logged,
      on: { click: () => send('good') } }, 'Good'),
    el('button', { type: 'button', class: 'bad', 'data-testid': 'verdict-bad', disabled: !logged,
      on: { click: () => send('bad') } }, 'Bad'),
    el('span', { class: 'verdict-status', 'data-testid': 'verdict-status', role: 'status', 'aria-live': 'polite' },
      logged ? keepText : 'log in to give a verdict'),
  ]);
}

// ---------- #/key/KEY ----------

async function showKey(view, r) {
  const token = state.viewToken;
  dinamo.status.key = 'loading';
  dinamo.key = null;
  const seqInput = el('input', { type: 'number', min: 0, 'aria-label': 'run seq', 'data-testid': 'key-seq-input', size: 8 });
  append(view, [
    el('div', { class: 'key-head' }, el('h2', null, el('span', { class: 'key', 'data-testid': 'key-title' }, r.key)),
      el('span', { id: 'key-info', class: 'muted' })),
    el('p', { class: 'hint' }, 'Drag to zoom, double-click to reset; click a point to draw the reference at that run.'),
    el('div', { class: 'panel wide', id: 'khist-s' }),
    el('div', { class: 'panel wide', id: 'khist-ml' }),
    el('form', { class: 'key-pick', on: { submit: (e) => {
      e.preventDefault();
      if (seqInput.value !== '') location.hash = keyHref(r.key, Number(seqInput.value));
    } } }, el('label', null, 'reference at run seq ', seqInput), ' ', el('button', { type: 'submit', 'data-testid': 'key-seq-show' }, 'show')),
    el('div', { id: 'key-ref-head' }),
    el('div', { class: 'pair' }, el('div', { class: 'panel', id: 'panel-s' }), el('div', { class: 'panel', id: 'panel-ml' })),
  ]);
  try {
    const kr = await getJSON(`/api/key?key=${encodeURIComponent(r.key)}`);
    if (token !== state.viewToken) return;
    dinamo.key = kr;
    $('key-info').textContent = ` subsystem ${kr.subsystem ?? '?'} · ${kr.n_bins_y > 0 ? `${kr.n_bins / kr.n_bins_y}×${kr.n_bins_y}` : (kr.n_bins ?? '?')} bins · ${(kr.seq || []).length} runs`;
    const seqs = kr.seq || [];
    const pick = r.seq !== null && seqs.includes(r.seq) ? r.seq : null;
    const onPick = (s) => {
      for (const u of state.plots.slice(0, 2)) if (u.dinamoMark) u.dinamoMark(s);
      showKeyRef(r.key, s, token);
    };
    for (const m of METHODS) {
      const box = $(`khist-${m}`);
      const th = (kr.thresholds && kr.thresholds[m]) || {};
      box.appendChild(el('h4', null, `${METHOD_NAME[m]} score `, el('span', { class: 'muted' },
        `bad ${fmtNum(th.bad)} · warning ${fmtNum(th.warning)} · alpha ${fmtNum(th.alpha)} · ${th.origin ?? 'no threshold'}`)));
      drawHistory(box, kr, m, pick, onPick, 220);
    }
    dinamo.status.key = 'ready';
    const start = pick ?? (seqs.length ? seqs[seqs.length - 1] : null);
    if (start !== null) await showKeyRef(r.key, start, token);
  } catch (e) {
    if (token !== state.viewToken) return;
    dinamo.status.key = 'error';
    view.insertBefore(errorBox(e, r.key), view.firstChild);
  }
}
async function showKeyRef(key, seq, token) {
  state.keySeqShown = seq;
  dinamo.status.hist = 'loading';
  const head = clear($('key-ref-head'));
  head.appendChild(el('h3', null, `Reference at run #${seq} `,
    el('a', { href: runHref(seq, key), 'data-testid': 'key-run-link' }, 'open this run →')));
  try {
    const hist = await getJSON(`/api/run/${seq}/hist?key=${encodeURIComponent(key)}`);
    if (token !== state.viewToken || state.keySeqShown !== seq) return;
    dinamo.hist = hist;
    // histogram panels are redrawn; the history plots (first 2) stay
    const keep = state.plots.slice(0, 2);
    for (const p of state.plots.slice(2)) p.destroy();
    state.plots = keep;
    head.firstChild.firstChild.textContent = `Reference at run ${hist.run} #${seq} `;
    for (const m of METHODS) drawHistPanel(clear($(`panel-${m}`)), hist, m);
    dinamo.status.hist = 'ready';
  } catch (e) {
    dinamo.status.hist = 'error';
    clear($('panel-s')).appendChild(errorBox(e, `run #${seq}`));
  }
}

// ---------- #/metrics ----------

async function showMetrics(view) {
  const token = state.viewToken;
  dinamo.status.metrics = 'loading';
  view.appendChild(el('h2', null, 'Metrics (continual regime; truth = generator / recorded labels)'));
  try {
    const mt = await getJSON('/api/metrics');
    if (token !== state.viewToken) return;
    dinamo.metrics = mt;
    view.appendChild(el('p', { class: 'muted' }, `historical runs: ${mt.historical_runs ?? 'not known yet'}`));
    const c = mt.counts || {};
    view.appendChild(el('table', { class: 'counts-table', 'data-testid': 'metrics-counts' },
      el('thead', null, el('tr', null, el('th', { scope: 'col' }, 'method'),
        SEVERITIES.map((s) => el('th', { scope: 'col', class: 'num' }, sevBadge(s))))),
      el('tbody', null, METHODS.map((m) => el('tr', null, el('th', { scope: 'row' }, METHOD_NAME[m]),
        SEVERITIES.map((s) => el('td', { class: 'num' }, String(c[m]?.[s] ?? 0))))))));
    const filter = el('input', { type: 'search', placeholder: 'filter keys', 'aria-label': 'filter keys',
      'data-testid': 'metrics-filter' });
    const cols = ['threshold_bad', 'threshold_warning', 'alpha', 'tp', 'fp', 'tn', 'fn', 'sensitivity', 'specificity', 'balanced_accuracy'];
    const colName = { threshold_bad: 'bad', threshold_warning: 'warn', alpha: 'α', balanced_accuracy: 'bal. acc.', sensitivity: 'sens.', specificity: 'spec.' };
    const fmt = (k, v) => (['tp', 'fp', 'tn', 'fn'].includes(k) ? (v ?? '–') : ['sensitivity', 'specificity', 'balanced_accuracy'].includes(k) ? fmtRatio(v) : fmtNum(v));
    const rows = (mt.keys || []).map((k) => el('tr', { 'data-key': k.key, 'data-testid': 'metrics-row' },
      el('td', { class: 'key' }, el('a', { href: keyHref(k.key), title: k.key }, k.key)),
      el('td', null, k.subsystem ?? ''),
      METHODS.map((m) => cols.map((c2, i) => el('td', { class: `num${i === 0 ? ' sep' : ''}` }, String(fmt(c2, k[m]?.[c2])))))));
    filter.addEventListener('input', () => {
      const t = filter.value.toLowerCase();
      for (const tr of rows) tr.hidden = t !== '' && !tr.dataset.key.toLowerCase().includes(t);
    });
    view.appendChild(el('div', { class: 'metrics-tools' }, filter, ` ${rows.length} keys`));
    view.appendChild(el('table', { class: 'metrics', 'data-testid': 'metrics-table' },
      el('thead', null,
        el('tr', null, el('th', { colspan: 2 }), METHODS.map((m) => el('th', { colspan: cols.length, class: 'sep group' }, METHOD_NAME[m]))),
        el('tr', null, el('th', { scope: 'col' }, 'key'), el('th', { scope: 'col' }, 'subsystem'),
          METHODS.map(() => cols.map((c2, i) => el('th', { scope: 'col', class: `num${i === 0 ? ' sep' : ''}` }, colName[c2] ?? c2))))),
      el('tbody', null, rows)));
    dinamo.status.metrics = 'ready';
  } catch (e) {
    if (token !== state.viewToken) return;
    dinamo.status.metrics = 'error';
    view.appendChild(errorBox(e, 'metrics'));
  }
}

// ---------- start ----------

async function start() {
  window.addEventListener('hashchange', () => route(false));
  await loadSummary();
  connectEvents();
  route(true);
}
start();
