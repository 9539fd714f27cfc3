// The dashboard's horizons in a browser (tests/test_dashboard.c): drives Debian's
// chromium (headless, playwright-core) against a running dashboard whose store
// holds runs that a lagged DINAMO-S horizon flagged, and checks what a shifter
// sees:
//   - the run list tags a worst histogram with the horizon that fired exactly
//     where /api/runs says one fired (and nowhere else);
//   - the run page of --seq shows the tag beside the S badge, and draws that
//     horizon's reference and pulls (the page's data, its legend and its worst
//     bins say so; the C test compares the pulls with what the scorer sent);
//   - no script error.
// Screenshots runs-horizons.png and run-horizons.png go to --out. Exit 0, or 1
// with the failed step on the last line.
//
//   node web/tests/horizon_check.mjs --url URL --out DIR --seq SEQ --key KEY
import { chromium } from 'playwright-core';
import path from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) =>
  (v.startsWith('--') ? a.concat([[v.slice(2), all[i + 1]]]) : a), []));
for (const k of ['url', 'out', 'seq', 'key']) {
  if (!args[k]) { process.stderr.write(`horizon_check: --${k} is required\n`); process.exit(2); }
}
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function fail(step, msg) {
  process.stderr.write(`horizon_check: FAILED at ${step}: ${msg}\n`);
  process.exit(1);
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  // 1. the run list against the API
  const api = await (await fetch(`${args.url}/api/runs?limit=1000`)).json();
  const want = new Map(api.runs.map((r) => [r.seq, (r.s.worst || []).map((w) => w.fired || null)]));
  const n_fired = [...want.values()].filter((f) => f.some(Boolean)).length;
  if (!n_fired) fail('api', 'no run says a lagged horizon fired: the check would show nothing');
  await page.goto(`${args.url}/`, { waitUntil: 'networkidle' });
  await page.waitForSelector('[data-testid=run-row]');
  const rows = await page.$$eval('[data-testid=run-row]', (trs) => trs.map((tr) => ({
    seq: Number(tr.dataset.seq),
    tags: [...tr.querySelectorAll('[data-testid=hz-tag]')].map((t) => t.textContent),
  })));
  if (rows.length !== api.runs.length) fail('run list', `${rows.length} rows, the API has ${api.runs.length}`);
  for (const r of rows) {
    const w = (want.get(r.seq) || []).filter(Boolean);
    if (JSON.stringify(w) !== JSON.stringify(r.tags)) {
      fail('run list', `run_seq ${r.seq}: tags ${JSON.stringify(r.tags)}, the API's fired ${JSON.stringify(w)}`);
    }
  }
  await page.screenshot({ path: path.join(args.out, 'runs-horizons.png') });

  // 2. the run page
  const seq = Number(args.seq);
  const fired = (want.get(seq) || []).find(Boolean);
  if (!fired) fail('run page', `run_seq ${seq} was not fired by a lagged horizon`);
  await page.goto(`${args.url}/#/run/${seq}?key=${encodeURIComponent(args.key)}`, { waitUntil: 'networkidle' });
  await page.waitForFunction(() => window.dinamo && window.dinamo.status && window.dinamo.status.hist === 'ready',
    null, { timeout: 15000 }).catch(() => fail('run page', 'the histogram never became ready'));
  const seen = await page.evaluate(() => ({
    horizon: window.dinamo.hist.s && window.dinamo.hist.s.horizon,
    title: document.querySelector('#panel-s h4')?.textContent || '',
    tag: document.querySelector('#panel-s h4 [data-testid=hz-tag]')?.textContent || null,
    rowTag: document.querySelector('#hist-rows tr.selected [data-testid=hz-tag]')?.textContent || null,
    bins: document.querySelector('[data-testid=worst-bins-s]')?.textContent || '',
    plots: document.querySelectorAll('#panel-s .uplot').length,
    legend: [...document.querySelectorAll('#panel-s .u-label')].map((e) => e.textContent).join('|'),
  }));
  if (seen.horizon !== fired) fail('run page', `the page drew horizon ${seen.horizon}, ${fired} fired`);
  if (seen.tag !== fired) fail('run page', `S panel tag ${seen.tag}: "${seen.title}"`);
  if (seen.rowTag !== fired) fail('run page', `the histogram row's tag is ${seen.rowTag}`);
  // the histogram against that horizon's reference, and its pulls (the axes are canvas)
  if (seen.plots !== 2) fail('run page', `${seen.plots} plots in the S panel, want the histogram and its pulls`);
  if (!seen.legend.includes(`reference (${fired} ago)`)) fail('run page', `legend: ${seen.legend}`);
  if (!seen.bins.includes(`against ${fired}`)) fail('run page', `worst bins: "${seen.bins}"`);
  await page.screenshot({ path: path.join(args.out, 'run-horizons.png'), fullPage: true });
  if (errors.length) fail('page', `script errors: ${errors.join('; ')}`);
  process.stdout.write(`horizon_check: ok (${n_fired} runs fired by a lagged horizon; run_seq ${seq} drawn against ${fired})\n`);
} finally {
  await browser.close();
}
