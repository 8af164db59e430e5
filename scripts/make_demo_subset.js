#!/usr/bin/env node
// Writes data/fmnist-subset/: the Fashion-MNIST subset that `hgad demo`
// trains on (the first 500 training images of each of the classes 0, 2, 4, 6,
// 8 and the first 200 test images of every class, in file order), in the
// original IDX format, gzipped. Source: Debian's dataset-fashion-mnist or the
// directory given as the first argument.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const src = process.argv[2] || '/usr/share/datasets/fashion-mnist';
const out = path.join(__dirname, '..', 'data', 'fmnist-subset');

function read(name) {
  return zlib.gunzipSync(fs.readFileSync(path.join(src, name + '.gz')));
}

function subset(imagesName, labelsName, perClass, classes) {
  const images = read(imagesName);
  const labels = read(labelsName);
  const count = labels.readUInt32BE(4);
  const rows = images.readUInt32BE(8);
  const cols = images.readUInt32BE(12);
  const taken = new Map(classes.map((c) => [c, 0]));
  const picked = [];
  for (let i = 0; i < count; ++i) {
    const c = labels[8 + i];
    if (taken.has(c) && taken.get(c) < perClass) {
      taken.set(c, taken.get(c) + 1);
      picked.push(i);
    }
  }
  const img = Buffer.alloc(16 + picked.length * rows * cols);
  img.writeUInt32BE(2051, 0);
  img.writeUInt32BE(picked.length, 4);
  img.writeUInt32BE(rows, 8);
  img.writeUInt32BE(cols, 12);
  const lab = Buffer.alloc(8 + picked.length);
  lab.writeUInt32BE(2049, 0);
  lab.writeUInt32BE(picked.length, 4);
  picked.forEach((i, k) => {
    images.copy(img, 16 + k * rows * cols, 16 + i * rows * cols, 16 + (i + 1) * rows * cols);
    lab[8 + k] = labels[8 + i];
  });
  fs.writeFileSync(path.join(out, imagesName + '.gz'), zlib.gzipSync(img, { level: 9 }));
  fs.writeFileSync(path.join(out, labelsName + '.gz'), zlib.gzipSync(lab, { level: 9 }));
  return picked.length;
}

fs.mkdirSync(out, { recursive: true });
const nTrain = subset('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 500, [0, 2, 4, 6, 8]);
const nTest = subset('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', 200, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
console.log(`wrote ${nTrain} training and ${nTest} test images to ${out}`);
