// The numbers of the reliability promises (README "Files, errors and what is
// promised"): memory and threads of 100 models dropped without close(),
// /dev/zero and a 1.9 GB garbage file as inputs, scoring one vector given as
// a view of a 320 MB array against the same vector as its own array, fit's
// peak RSS over its data, and the Haar rotation at C = 1000.
// Usage: node --expose-gc dist/bench/reliability.js [--only NAME] [--json out.json]
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { HGAD } from '../lib/hgad';
import { readNpy } from '../lib/io/npy';
import { haarRotation } from '../lib/nn/init';
import { Random } from '../lib/random';

const MB = 2 ** 20;
const rows: { name: string; value: string }[] = [];
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;
const want = (name: string) => only === null || name.includes(only);
const threads = () => fs.readdirSync('/proc/self/task').length;
const gc = () => (global as unknown as { gc?: () => void }).gc?.();

function features(n: number, C: number, seed: number): Float32Array {
  const rng = new Random(seed);
  return Float32Array.from({ length: n * C }, () => rng.normal());
}

async function dropped(): Promise<void> {
  const cfg = { levels: [{ channels: 200, condChannels: 0 }], classNames: ['a'], couplings: 4, clamp: 1.9, intraCentres: 2 };
  const x = features(16, 200, 1);
  gc();
  const before = { rss: process.memoryUsage().rss, threads: threads() };
  for (let i = 0; i < 100; ++i) {
    const m = HGAD.create(cfg, i);
    await m.score([{ features: x }], 0);
  }
  for (let i = 0; i < 30; ++i) {
    gc();
    await new Promise((r) => setTimeout(r, 100));
  }
  rows.push({ name: 'dropped_models', value: `100 models scored and dropped: RSS ${(before.rss / MB).toFixed(0)} -> ${(process.memoryUsage().rss / MB).toFixed(0)} MB, threads ${before.threads} -> ${threads()}` });
}

function devZero(): void {
  for (const file of ['/dev/zero']) {
    const t = process.hrtime.bigint();
    const rss = process.memoryUsage().rss;
    let msg = '';
    try {
      readNpy(file);
    } catch (e) {
      msg = (e as Error).message;
    }
    rows.push({ name: 'dev_zero', value: `${msg} after ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(2)} ms, RSS +${((process.memoryUsage().rss - rss) / MB).toFixed(1)} MB` });
  }
  const garbage = path.join(os.tmpdir(), `hgad-garbage-${process.pid}.npy`);
  const fd = fs.openSync(garbage, 'w');
  fs.writeSync(fd, Buffer.from('garbage!'));
  fs.ftruncateSync(fd, 1.9e9);
  fs.closeSync(fd);
  const t = process.hrtime.bigint();
  const rss = process.memoryUsage().rss;
  let msg = '';
  try {
    readNpy(garbage);
  } catch (e) {
    msg = (e as Error).message.replace(garbage, 'garbage.npy');
  }
  fs.rmSync(garbage);
  rows.push({ name: 'garbage_1.9GB', value: `${msg} after ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(2)} ms, RSS +${((process.memoryUsage().rss - rss) / MB).toFixed(1)} MB` });
}

async function views(): Promise<void> {
  const C = 200;
  const model = HGAD.create({ levels: [{ channels: C, condChannels: 0 }], classNames: ['a'], couplings: 4, clamp: 1.9, intraCentres: 2 }, 0);
  const big = features(400_000, C, 2); // 320 MB
  const view = big.subarray(1000 * C, 1001 * C);
  const own = view.slice();
  await model.score([{ features: own }], 0);
  const time = async (x: Float32Array) => {
    const ts: number[] = [];
    for (let i = 0; i < 7; ++i) {
      const t = process.hrtime.bigint();
      await model.score([{ features: x }], 0);
      ts.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return ts.sort((a, b) => a - b)[3];
  };
  const v = await time(view);
  const o = await time(own);
  model.close();
  rows.push({ name: 'view_score', value: `one vector of a 320 MB array: view ${v.toFixed(2)} ms, own array ${o.toFixed(2)} ms (median of 7)` });
}

function fitMemory(): void {
  // A child process per size, so that its peak RSS is the fit's alone.
  for (const n of [100_000, 400_000]) {
    const script = `const {HGAD}=require(${JSON.stringify(path.resolve(__dirname, '../lib/hgad'))});
const {Random}=require(${JSON.stringify(path.resolve(__dirname, '../lib/random'))});
(async()=>{const C=200,n=${n};const r=new Random(3);const f=new Float32Array(n*C);for(let i=0;i<f.length;++i)f[i]=r.normal();
const l=Int32Array.from({length:n},(_,i)=>i%2);const base=process.resourceUsage().maxRSS;
const m=HGAD.create({levels:[{channels:C,condChannels:0}],classNames:['a','b'],couplings:1,clamp:1.9,intraCentres:2},0);
await m.fit([{features:f,labels:l}],{epochs:1,batchSize:4096,stage1Epochs:0});
console.log(JSON.stringify({base,peak:process.resourceUsage().maxRSS}));})();`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
    const dataMB = (n * 200 * 4) / MB;
    rows.push({ name: `fit_rss_${n}`, value: `${dataMB.toFixed(0)} MB of vectors: peak RSS ${(out.peak / 1024).toFixed(0)} MB (${(out.peak / 1024 / dataMB).toFixed(2)}x the data; ${(out.base / 1024).toFixed(0)} MB before fit)` });
  }
}

function rotation(): void {
  for (const C of [1000]) {
    const t = process.hrtime.bigint();
    haarRotation(new Random(1), C);
    rows.push({ name: `haar_${C}`, value: `Haar rotation C=${C}: ${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(2)} s` });
  }
}

(async () => {
  if (want('dropped')) await dropped();
  if (want('dev_zero') || want('garbage')) devZero();
  if (want('view')) await views();
  if (want('fit')) fitMemory();
  if (want('haar')) rotation();
  for (const r of rows) console.log(`${r.name.padEnd(16)} ${r.value}`);
  const j = process.argv.indexOf('--json');
  if (j >= 0) fs.writeFileSync(process.argv[j + 1], JSON.stringify(rows, null, 2));
})();
