#!/usr/bin/env node
// Data and check of scripts/smoke_gyp.sh. `node smoke_gyp_data.js ROOT DIR`
// writes three Gaussian classes of 24-channel vectors (train) and held-out
// normal and shifted vectors (test) into DIR; with --check it reads DIR's
// scores.npy and fails unless they are finite and rank the shifted vectors
// above the normal ones (AUROC >= 0.9). ROOT is the copy whose dist is used.
'use strict';
const path = require('path');

const [root, dir, flag] = process.argv.slice(2);
if (!root || !dir) {
  console.error('usage: smoke_gyp_data.js ROOT DIR [--check]');
  process.exit(2);
}
const { writeNpy, readNpy } = require(path.resolve(root, 'dist', 'lib', 'io', 'npy.js'));

const C = 24;
const K = 3;
const PER_CLASS = 200;
const TEST_NORMAL = 60;
const TEST_SHIFTED = 60;

let state = 12345;
function uniform() {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return (state + 0.5) / 4294967296;
}
function normal() {
  return Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}
const mean = (k, c) => Math.sin(1.7 * k + 0.9 * c) * 2;

function sample(n, k, shift) {
  const out = [];
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) out.push(mean(k, c) + (shift ? 6 : 0) * Math.cos(c) + normal() * 0.5);
  return out;
}

if (flag === '--check') {
  const s = readNpy(path.join(dir, 'scores.npy'));
  const v = Array.from(s.data);
  if (v.length !== K * (TEST_NORMAL + TEST_SHIFTED)) throw new Error(`Expected ${K * (TEST_NORMAL + TEST_SHIFTED)} scores but received ${v.length}`);
  if (!v.every(Number.isFinite)) throw new Error('Expected finite scores but received NaN or Infinity');
  let pairs = 0;
  let wins = 0;
  for (let k = 0; k < K; k++) {
    const base = k * (TEST_NORMAL + TEST_SHIFTED);
    for (let i = 0; i < TEST_NORMAL; i++) {
      for (let j = 0; j < TEST_SHIFTED; j++) {
        const a = v[base + i];
        const b = v[base + TEST_NORMAL + j];
        pairs++;
        wins += b > a ? 1 : b === a ? 0.5 : 0;
      }
    }
  }
  const auroc = wins / pairs;
  if (!(auroc >= 0.9)) throw new Error(`Expected an AUROC >= 0.9 for shifted vs normal vectors but received ${auroc.toFixed(3)}`);
  console.log(`smoke_gyp: ${v.length} finite scores, AUROC ${auroc.toFixed(3)}`);
} else {
  const train = [];
  const labels = [];
  for (let k = 0; k < K; k++) {
    train.push(...sample(PER_CLASS, k, false));
    for (let i = 0; i < PER_CLASS; i++) labels.push(k);
  }
  const test = [];
  const testLabels = [];
  for (let k = 0; k < K; k++) {
    test.push(...sample(TEST_NORMAL, k, false), ...sample(TEST_SHIFTED, k, true));
    for (let i = 0; i < TEST_NORMAL + TEST_SHIFTED; i++) testLabels.push(k);
  }
  writeNpy(path.join(dir, 'train.npy'), { dtype: 'float32', shape: [K * PER_CLASS, C], data: Float32Array.from(train) });
  writeNpy(path.join(dir, 'train_labels.npy'), { dtype: 'int32', shape: [K * PER_CLASS], data: Int32Array.from(labels) });
  writeNpy(path.join(dir, 'test.npy'), { dtype: 'float32', shape: [test.length / C, C], data: Float32Array.from(test) });
  writeNpy(path.join(dir, 'test_labels.npy'), { dtype: 'int32', shape: [testLabels.length], data: Int32Array.from(testLabels) });
}
