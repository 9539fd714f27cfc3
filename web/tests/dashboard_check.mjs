// The dashboard's browser check: drives Debian's chromium (headless, through
// playwright-core) against a running dashboard and writes what the pages showed,
// for the C test suite to compare with the pipeline's own files (flags.csv,
// the scores log, labels.csv). It judges only what a browser alone can judge
// (the list settles, a verdict moves a run out of "awaiting" on another open
// page without reload, forged verdicts are refused, no server string runs as
// markup); the comparisons with the pipeline's files are the suite's.
//
//   node web/tests/dashboard_check.mjs --url http://127.0.0.1:PORT --user U
//        --password P --out DIR --label-seq SEQ --reason TEXT
//        [--run-seq SEQ] [--refuse-seq SEQ] [--key KEY] [--timeout-ms 20000]
//        [--settle-ms 1500] [--total-ms 240000]
//
// Writes, in DIR:
//   runs.json     {"runs":[{"seq","run","s","ml","label"}...], "bad_s":[seq..],
//                  "bad_ml":[seq..], "summary":{...}}   every run the list shows
//                 (all pages, paged with "older runs") once it stopped changing
//   runs.png      the run list
//   run.json      {"seq", "run": window.dinamo.run, "hist": window.dinamo.hist,
//                  "markup": {...}}  the worst listed run (--run-seq overrides),
//                 its worst histogram drawn
//   run.png       that run's page
//   label.json    {"seq","moved":true,"ms","reloaded":false,"label":RUN.label}
//                 Bad + reason clicked logged in on page 1; ms until page 2,
//                 open on #/?awaiting=1, no longer lists the run (SSE, no reload)
//   key.json      with --key: {"key", "title": the key as the page shows it (text),
//                 "reply": window.dinamo.key, "foreign_elements": 0}; key.png
//   refused.json  {"seq", "cases":{name:{"status","expected","error"}}, "still_awaiting":true}
//                 verdicts sent by fetch from the pages without a session and
//                 with a forged or missing CSRF token
// Exit status 0 when every step passed; otherwise 1 and one line on stderr
// naming the step and what was wrong (plus DIR/failed-STEP.png when a page was open).
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
// playwright adds --headless and a fresh temporary --user-data-dir of its own
// (and refuses one given here), deleted when the browser closes.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SEV_RANK = { bad: 4, warning: 3, ok: 2, insufficient: 1, none: 0 };

function usage(msg) {
  process.stderr.write(`dashboard_check: ${msg}\nusage: node dashboard_check.mjs --url URL --user U --password P ` +
    '--out DIR --label-seq SEQ --reason TEXT [--run-seq SEQ] [--refuse-seq SEQ] [--key KEY] [--timeout-ms N] [--settle-ms N] [--total-ms N]\n');
  process.exit(2);
}
function parseArgs(argv) {
  const known = new Set(['url', 'user', 'password', 'out', 'label-seq', 'reason', 'run-seq', 'refuse-seq', 'key',
    'timeout-ms', 'settle-ms', 'total-ms']);
  const a = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    if (!k.startsWith('--') || !known.has(k.slice(2))) usage(`unknown argument ${k}`);
    if (i + 1 >= argv.length) usage(`${k} needs a value`);
    a[k.slice(2)] = argv[i + 1];
  }
  for (const k of ['url', 'user', 'password', 'out', 'label-seq', 'reason']) if (a[k] === undefined) usage(`--${k} is required`);
  const int = (k, dflt) => {
    if (a[k] === undefined) return dflt;
    if (!/^\d+$/.test(a[k])) usage(`--${k} must be a non-negative integer, not "${a[k]}"`);
    return Number(a[k]);
  };
  return {
    url: a.url.replace(/\/+$/, ''), user: a.user, password: a.password, out: a.out, reason: a.reason,
    key: a.key ?? null, labelSeq: int('label-seq'), runSeq: int('run-seq', null), refuseSeq: int('refuse-seq', null),
    timeout: int('timeout-ms', 20000), settle: int('settle-ms', 1500), total: int('total-ms', 240000),
  };
}

const opt = parseArgs(process.argv.slice(2));
fs.mkdirSync(opt.out, { recursive: true });
// a failed run must not leave an earlier run's results looking like its own
for (const f of fs.readdirSync(opt.out)) {
  if (/^(runs|run|label|refused|key)\.(json|png)$|^failed-.*\.png$/.test(f)) fs.unlinkSync(path.join(opt.out, f));
}
const writeJSON = (name, obj) => fs.writeFileSync(path.join(opt.out, name), `${JSON.stringify(obj, null, 1)}\n`);

let browser = null;
const dialogs = [];
const pageErrors = [];
let current = null;   // the page a failing step was working on (for its screenshot)

async function fail(step, msg) {
  process.stderr.write(`dashboard_check: step "${step}" failed: ${msg}\n`);
  if (current) {
    await current.screenshot({ path: path.join(opt.out, `failed-${step}.png`), timeout: 5000 }).catch(() => {});
  }
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}
async function step(name, fn) {
  try {
    return await fn();
  } catch (e) {
    return fail(name, (e && e.message ? e.message : String(e)).split('\n')[0]);
  }
}
// a wait that names what it waited for when it times out
async function waitFor(page, what, fn, arg, timeout = opt.timeout) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch (e) {
    throw new Error(`${what}: not within ${timeout} ms`);
  }
}

const watchdog = setTimeout(() => {
  process.stderr.write(`dashboard_check: gave up after --total-ms ${opt.total} ms\n`);
  process.exit(1);
}, opt.total);
watchdog.unref();

async function newPage(name) {
  const context = await browser.newContext({
    viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1, locale: 'en-GB', timezoneId: 'UTC',
    reducedMotion: 'reduce', colorScheme: 'light',
  });
  const page = await context.newPage();
  page.setDefaultTimeout(opt.timeout);
  page.on('dialog', (d) => { dialogs.push(`${name}: ${d.type()} "${d.message()}"`); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
  return page;
}

// Opens the list at hash, pages with "older runs" to the end, and waits until the
// listed runs (seq, severities, label state) stay the same for --settle-ms.
async function openList(page, hash) {
  await page.goto(`${opt.url}/${hash}`, { waitUntil: 'domcontentloaded' });
  await waitFor(page, `the run list at ${hash} loaded`, () => window.dinamo && window.dinamo.status.list === 'ready');
  await waitFor(page, 'the live connection (/api/events) open', () => window.dinamo.status.sse === 'open');
  const signature = () => page.evaluate(() => {
    const d = window.dinamo;
    return `${d.status.list}|${d.runs.map((r) => `${r.seq}:${r.s && r.s.severity}:${r.ml && r.ml.severity}:${r.label && r.label.state}`).join(',')}`;
  });
  const deadline = Date.now() + opt.timeout;
  let last = null;
  let stableSince = Date.now();
  for (;;) {
    // page to the end: the button shows while the server says there is more
    const more = await page.evaluate(() => {
      const b = document.querySelector('[data-testid="older"]');
      return !!b && !b.hidden && !b.disabled && window.dinamo.status.list === 'ready';
    });
    if (more) {
      await page.click('[data-testid="older"]');
      await waitFor(page, 'older runs loaded', () => window.dinamo.status.list !== 'loading');
      const st = await page.evaluate(() => window.dinamo.status.list);
      if (st !== 'ready') throw new Error(`loading older runs: list status ${st}`);
    }
    const sig = await signature();
    if (sig !== last) { last = sig; stableSince = Date.now(); }
    else if (!more && Date.now() - stableSince >= opt.settle) break;
    if (Date.now() > deadline) throw new Error(`the list at ${hash} kept changing for ${opt.timeout} ms`);
    await page.waitForTimeout(100);
  }
  return page.evaluate(() => window.dinamo.runs.map((r) => ({
    seq: r.seq, run: r.run, s: r.s ? r.s.severity : null, ml: r.ml ? r.ml.severity : null,
    label: r.label ? r.label.state : null,
  })));
}

// window.dinamo.run/hist for seq, once its worst (or given) histogram is drawn
async function openRun(page, seq) {
  await page.goto(`${opt.url}/#/run/${seq}`, { waitUntil: 'domcontentloaded' });
  await waitFor(page, `run #${seq} loaded`, (s) => window.dinamo && window.dinamo.status.run !== 'loading' &&
    window.dinamo.status.run !== 'idle' && (window.dinamo.status.run === 'error' || (window.dinamo.run && window.dinamo.run.run.seq === s)), seq);
  const st = await page.evaluate(() => ({ st: window.dinamo.status.run, err: (document.querySelector('[data-testid="error"]') || {}).textContent }));
  if (st.st !== 'ready') throw new Error(`run #${seq}: ${st.err || st.st}`);
  const hasHists = await page.evaluate(() => (window.dinamo.run.histograms || []).length > 0);
  if (hasHists) {
    await waitFor(page, `run #${seq}: its worst histogram drawn`, (s) => {
      const d = window.dinamo;
      return d.status.hist === 'error' || (d.status.hist === 'ready' && d.hist && d.hist.seq === s &&
        d.hist.key === d.run.histograms[0].key);
    }, seq);
    const hs = await page.evaluate(() => window.dinamo.status.hist);
    if (hs !== 'ready') throw new Error(`run #${seq}: its worst histogram could not be loaded`);
  }
  // two animation frames: uPlot has painted its canvases
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

// The verdict POST made by the page's own fetch (same origin, its cookies or none).
function postLabel(page, body, token) {
  return page.evaluate(async ({ body: b, token: t }) => {
    const headers = { 'Content-Type': 'application/json' };
    if (t !== null) headers['X-CSRF-Token'] = t;
    const r = await fetch('/api/label', { method: 'POST', credentials: 'same-origin', headers, body: JSON.stringify(b) });
    let error = null;
    try { error = (await r.json()).error ?? null; } catch (e) { error = null; }
    return { status: r.status, error };
  }, { body, token });
}

// ---------------------------------------------------------------------------

browser = await step('launch', () => chromium.launch({
  executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: opt.timeout,
}));
const pageA = await step('launch', () => newPage('page 1'));
current = pageA;

// 1. the run list, all of it
const listed = await step('runs', () => openList(pageA, '#/?limit=1000'));
await step('runs', async () => {
  const summary = await pageA.evaluate(() => window.dinamo.summary);
  writeJSON('runs.json', {
    runs: listed,
    bad_s: listed.filter((r) => r.s === 'bad').map((r) => r.seq),
    bad_ml: listed.filter((r) => r.ml === 'bad').map((r) => r.seq),
    summary,
  });
  await pageA.evaluate(() => window.scrollTo(0, 0));
  await pageA.screenshot({ path: path.join(opt.out, 'runs.png') });
});
if (!listed.length) await fail('runs', 'the page lists no run');

// 2. the worst run's page: highest severity over both methods, then the
//    largest excess among its worst histograms, then the newest
const worstSeq = opt.runSeq ?? await step('run', () => pageA.evaluate(() => {
  const rank = { bad: 4, warning: 3, ok: 2, insufficient: 1, none: 0 };
  const sev = (r) => Math.max(rank[r.s?.severity] ?? 0, rank[r.ml?.severity] ?? 0);
  const excess = (r) => Math.max(-Infinity, ...['s', 'ml'].flatMap((m) => (r[m]?.worst || []).map((w) => w.excess ?? -Infinity)));
  const runs = window.dinamo.runs.slice();
  runs.sort((a, b) => sev(b) - sev(a) || excess(b) - excess(a) || b.seq - a.seq);
  return runs[0].seq;
}));
await step('run', async () => {
  await openRun(pageA, worstSeq);
  const data = await pageA.evaluate(() => {
    // every histogram key holding markup must be on the page as text, and no
    // element may have come from it (the page itself makes no img/script/iframe)
    const keys = (window.dinamo.run.histograms || []).map((h) => h.key).filter((k) => /[<>&"']/.test(k));
    const texts = new Set([...document.querySelectorAll('[data-testid="hist-row"] td.key a')].map((a) => a.textContent));
    return {
      run: window.dinamo.run, hist: window.dinamo.hist,
      markup: {
        keys_with_markup: keys,
        rendered_as_text: keys.every((k) => texts.has(k)),
        foreign_elements: document.querySelectorAll('main img, main script, main iframe, main object, main embed, main svg').length,
      },
    };
  });
  writeJSON('run.json', { seq: worstSeq, ...data });
  await pageA.screenshot({ path: path.join(opt.out, 'run.png') });
  if (!data.markup.rendered_as_text) throw new Error(`a histogram key with markup is not shown as text: ${JSON.stringify(data.markup.keys_with_markup)}`);
  if (data.markup.foreign_elements) throw new Error(`${data.markup.foreign_elements} elements on the run page came from server strings`);
});

// 2b. a key's page (the hostile key: its name must come back as text)
if (opt.key !== null) {
  await step('key', async () => {
    await pageA.goto(`${opt.url}/#/key/${encodeURIComponent(opt.key)}`, { waitUntil: 'domcontentloaded' });
    await waitFor(pageA, `key ${JSON.stringify(opt.key)} loaded`, (k) => window.dinamo.status.key === 'error' ||
      (window.dinamo.status.key === 'ready' && window.dinamo.key && window.dinamo.key.key === k), opt.key);
    if (await pageA.evaluate(() => window.dinamo.status.key) !== 'ready') throw new Error(`key ${JSON.stringify(opt.key)}: its page shows an error`);
    await pageA.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const data = await pageA.evaluate(() => ({
      title: document.querySelector('[data-testid="key-title"]').textContent,
      reply: window.dinamo.key,
      foreign_elements: document.querySelectorAll('main img, main script, main iframe, main object, main embed, main svg').length,
    }));
    writeJSON('key.json', { key: opt.key, ...data });
    await pageA.screenshot({ path: path.join(opt.out, 'key.png') });
    if (data.title !== opt.key) throw new Error(`the key page's title reads ${JSON.stringify(data.title)}, not the key as text`);
    if (data.foreign_elements) throw new Error(`${data.foreign_elements} elements on the key page came from server strings`);
  });
}

// 3. a second page, not logged in, on the runs awaiting a verdict
const pageB = await step('second-page', () => newPage('page 2'));
current = pageB;
const awaiting = await step('second-page', () => openList(pageB, '#/?awaiting=1&limit=1000'));
if (!awaiting.some((r) => r.seq === opt.labelSeq)) {
  await fail('second-page', `run #${opt.labelSeq} is not listed as awaiting a verdict (${awaiting.length} runs are)`);
}
await pageB.evaluate(() => { window.dinamoCheckNoReload = 1; });

// 4. log in on page 1, Bad with the reason on run --label-seq
current = pageA;
await step('login', async () => {
  await pageA.goto(`${opt.url}/#/run/${opt.labelSeq}`, { waitUntil: 'domcontentloaded' });
  await waitFor(pageA, 'the login box', () => !!document.querySelector('[data-testid="login-user-input"], [data-testid="logout"]'));
  if (await pageA.$('[data-testid="logout"]')) throw new Error('page 1 is logged in before logging in');
  await pageA.fill('[data-testid="login-user-input"]', opt.user);
  await pageA.fill('[data-testid="login-password"]', opt.password);
  await pageA.click('[data-testid="login-submit"]');
  try {
    await waitFor(pageA, 'logged in', (u) => window.dinamo.user === u, opt.user);
  } catch (e) {
    const msg = await pageA.textContent('[data-testid="login-msg"]').catch(() => '');
    throw new Error(`login as ${opt.user} refused: ${msg || e.message}`);
  }
});
const label = await step('label', async () => {
  await waitFor(pageA, `run #${opt.labelSeq} loaded`, (s) => window.dinamo.status.run === 'ready' && window.dinamo.run.run.seq === s, opt.labelSeq);
  await waitFor(pageA, 'the Bad button enabled', () => { const b = document.querySelector('[data-testid="verdict-bad"]'); return b && !b.disabled; });
  await pageA.fill('[data-testid="verdict-reason"]', opt.reason);
  const t0 = Date.now();
  await pageA.click('[data-testid="verdict-bad"]');
  await waitFor(pageA, 'the verdict answered', () => ['sent', 'refused', 'recorded'].includes(window.dinamo.status.verdict));
  const st = await pageA.evaluate(() => ({ st: window.dinamo.status.verdict, text: document.querySelector('[data-testid="verdict-status"]').textContent }));
  if (st.st === 'refused') throw new Error(`the verdict was refused: ${st.text}`);
  current = pageB;
  await waitFor(pageB, `run #${opt.labelSeq} gone from page 2's awaiting list`,
    (s) => !window.dinamo.runs.some((r) => r.seq === s), opt.labelSeq);
  const ms = Date.now() - t0;
  const reloaded = await pageB.evaluate(() => window.dinamoCheckNoReload !== 1);
  if (reloaded) throw new Error('page 2 reloaded');
  current = pageA;
  await waitFor(pageA, 'page 1 shows the verdict recorded', () => window.dinamo.status.verdict === 'recorded');
  const l = await pageA.evaluate(() => window.dinamo.run.run.label);
  if (!l || l.state !== 'person' || l.verdict !== 'bad' || l.who !== opt.user || l.reason !== opt.reason) {
    throw new Error(`run #${opt.labelSeq}'s label is ${JSON.stringify(l)}, not bad by ${opt.user} with the reason`);
  }
  const out = { seq: opt.labelSeq, moved: true, ms, reloaded, label: l };
  writeJSON('label.json', out);
  return out;
});

// 5. verdicts the dashboard must refuse, sent by the pages' own fetch
await step('refused', async () => {
  const seq = opt.refuseSeq ?? (awaiting.find((r) => r.seq !== opt.labelSeq) || {}).seq;
  if (seq === undefined) throw new Error('no other run awaiting a verdict to try the refusals on (give --refuse-seq)');
  const body = { seq, verdict: 'bad', reason: 'dashboard_check: must be refused' };
  const real = await pageA.evaluate(async () => (await (await fetch('/api/summary', { credentials: 'same-origin' })).json()).csrf);
  if (!real) throw new Error('page 1 has no CSRF token after logging in (/api/summary csrf is null)');
  const forged = real.split('').map((c) => (c === 'A' ? 'B' : 'A')).join('');
  const cases = {
    no_session: { page: pageB, token: null, expected: [401] },
    no_session_real_token: { page: pageB, token: real, expected: [401] },
    session_missing_token: { page: pageA, token: null, expected: [403] },
    session_forged_token: { page: pageA, token: forged, expected: [403] },
  };
  const out = { seq, cases: {} };
  for (const [name, c] of Object.entries(cases)) {
    const r = await postLabel(c.page, body, c.token);
    out.cases[name] = { status: r.status, expected: c.expected, error: r.error };
  }
  // nothing changed: after a while page 2 still lists the run as awaiting and
  // the server still says so
  await pageB.waitForTimeout(Math.max(opt.settle, 1000));
  const onPage = await pageB.evaluate((s) => window.dinamo.runs.some((r) => r.seq === s && r.label && r.label.state === 'awaiting'), seq);
  const server = await pageB.evaluate(async (s) => (await (await fetch(`/api/run/${s}`)).json()).run.label.state, seq);
  out.still_awaiting = onPage && server === 'awaiting';
  out.server_label_state = server;
  writeJSON('refused.json', out);
  const wrong = Object.entries(out.cases).filter(([, c]) => !c.expected.includes(c.status));
  if (wrong.length) throw new Error(wrong.map(([n, c]) => `${n}: HTTP ${c.status}, expected ${c.expected.join('/')}`).join('; '));
  if (!out.still_awaiting) throw new Error(`run #${seq} no longer awaits a verdict after the refused ones (page: ${onPage}, server: ${server})`);
});

// 6. nothing ran that should not have
current = null;
if (dialogs.length) await fail('markup', `a page opened a dialog (server text ran as code?): ${dialogs.join('; ')}`);
if (pageErrors.length) await fail('page-errors', `JavaScript errors on the pages: ${pageErrors.join('; ')}`);
await browser.close();
process.stdout.write(`dashboard_check: ok (${listed.length} runs listed, worst #${worstSeq}, run #${label.seq} left the awaiting list in ${label.ms} ms)\n`);
