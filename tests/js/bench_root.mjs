// bench_root.mjs: JSROOT's side of bench/bench_root.c: opens FILE and reads
// every histogram, PASSES times; prints one JSON object with the median
// seconds of a pass, the histograms read, and the sum of all their bins (so
// the benchmark can check both readers read the same numbers).
//
//   node tests/js/bench_root.mjs FILE PASSES
import { openFile } from 'jsroot';

const [file, passesArg] = process.argv.slice(2);
const passes = Number(passesArg || 5);
const times = [];
let count = 0, total = 0;
for (let p = 0; p < passes; p++) {
  const t0 = process.hrtime.bigint();
  const f = await openFile(file);
  count = 0;
  total = 0;
  for (const k of f.fKeys) {
    if (!/^TH[12][CSIFD]$/.test(k.fClassName)) continue;
    const h = await f.readObject(`${k.fName};${k.fCycle}`);
    for (const v of h.fArray) total += v;
    count++;
  }
  times.push(Number(process.hrtime.bigint() - t0) / 1e9);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ seconds: times[Math.floor(passes / 2)], histograms: count, sum: total }));
