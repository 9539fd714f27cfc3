// dump_root.mjs: what JSROOT reads in ROOT files, one JSON object a line, for
// the C tests (tests/test_rootfile.c, test_rootwrite.c) to compare dinamo's
// reader with an independent one.
//
//   node tests/js/dump_root.mjs FILE...
//
// For every key of every directory (highest cycle of each name), a line
//   {"file", "path", "cycle", "class", "title"}
// and, for TH1x/TH2x (not profiles), also "nx", "ny", "xmin", "xmax",
// "xedges", "yedges" (ROOT's rule for fixed bins: xmin + i * ((xmax - xmin) /
// n), computed here in JavaScript doubles), "values" (fArray, flow bins
// included), "sumw2" (fSumw2, [] when not stored) and "entries". A file JSROOT
// cannot open gives {"file", "error"}. Non-finite numbers and negative zero
// are written as the strings "NaN", "Infinity", "-Infinity", "-0".
import { openFile } from 'jsroot';

const isHist = cls => /^TH[12][CSIFD]$/.test(cls);

function edges(axis) {
  if (axis.fXbins && axis.fXbins.length > 0) return Array.from(axis.fXbins);
  const n = axis.fNbins, w = (axis.fXmax - axis.fXmin) / n, out = [];
  for (let i = 0; i <= n; i++) out.push(axis.fXmin + i * w);
  return out;
}

// JSON has no NaN, infinities or negative zero: those go as strings.
function num(x) {
  return Object.is(x, -0) ? '-0' : Number.isFinite(x) ? x : String(x);
}

function highest(keys) {
  const best = new Map();
  for (const k of keys) {
    const b = best.get(k.fName);
    if (!b || k.fCycle > b.fCycle) best.set(k.fName, k);
  }
  return keys.filter(k => best.get(k.fName) === k);
}

async function walk(file, fname, dirpath, keys, out) {
  for (const k of highest(keys)) {
    const path = dirpath ? `${dirpath}/${k.fName}` : k.fName;
    if (k.fClassName === 'TDirectory' || k.fClassName === 'TDirectoryFile') {
      const dir = await file.readDirectory(path, k.fCycle);
      await walk(file, fname, path, dir.fKeys, out);
      continue;
    }
    const line = { file: fname, path, cycle: k.fCycle, class: k.fClassName, title: k.fTitle };
    if (isHist(k.fClassName)) {
      const h = await file.readObject(`${path};${k.fCycle}`);
      const two = k.fClassName[2] === '2';
      line.nx = h.fXaxis.fNbins;
      line.ny = two ? h.fYaxis.fNbins : 0;
      line.xmin = num(h.fXaxis.fXmin);
      line.xmax = num(h.fXaxis.fXmax);
      line.xedges = edges(h.fXaxis).map(num);
      line.yedges = two ? edges(h.fYaxis).map(num) : [];
      line.values = Array.from(h.fArray).map(num);
      line.sumw2 = Array.from(h.fSumw2 || []).map(num);
      line.entries = num(h.fEntries);
    }
    out.push(JSON.stringify(line));
  }
}

for (const fname of process.argv.slice(2)) {
  const out = [];
  try {
    const file = await openFile(fname);
    await walk(file, fname, '', file.fKeys.filter(k => k.fName !== 'StreamerInfo' ||
                                                       k.fClassName !== 'TList'), out);
  } catch (e) {
    out.length = 0;
    out.push(JSON.stringify({ file: fname, error: String(e && e.message || e) }));
  }
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
}
