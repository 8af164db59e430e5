// The package's surface: the runtime names of `hgad` (lib/index.ts) are listed
// here so that adding or removing one is a deliberate change, and `hgad` and
// `hgad/internal` resolve through package.json's `exports`.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

const PUBLIC_NAMES = [
  'Backbone', 'CPU_KERNELS', 'CacheFeatureSource', 'FormatError', 'HGAD', 'HgadModel', 'MemoryFeatureSource', 'addImages', 'anomalyMaps',
  'auroc', 'calibratedMaps', 'checkFeatureOrigin', 'cpuKernel', 'createServer', 'createWorker', 'devices', 'estimateFit', 'extractFeatures',
  'fitFeatureMaps', 'fitImages', 'fusedReferenceMaps', 'imageScoresFromMaps', 'indexDataset', 'inspectDataset', 'inspectImage',
  'loadImage', 'loadMask', 'localisationMetrics', 'meanOverClasses', 'metricsJson', 'modelPreprocessing', 'positionalConditions',
  'queueStatus', 'readNpy', 'readSafetensors', 'referenceMaps', 'scoreImages', 'setCpuKernel', 'setThreads', 'threads', 'toFloat32',
  'toInt32Labels', 'trainFromSource', 'writeNpy', 'writeSafetensors',
];

// A few building blocks that must stay out of the public surface.
const INTERNAL_ONLY = ['Tensor', 'Flow', 'CouplingBlock', 'GaussianMixture', 'Adam', 'backward', 'native', 'cudaBackend', 'selectBackend',
  'CudaBackend', 'Random', 'scheduleTable', 'toDevice', 'toHost', 'referenceFusion', 'encodeNpy', 'parseSafetensors'];

// Resolves a specifier the way code inside the package does: by its own
// name, which node maps through `exports` (a self-reference).
function resolveFromPackage(specifier: string): string {
  return require.resolve(specifier, { paths: [root] });
}

test('the public API is exactly the listed names', (t) => {
  const api = require(path.join(root, 'dist', 'lib', 'index.js'));
  t.deepEqual(Object.keys(api).sort(), [...PUBLIC_NAMES].sort());
  for (const name of PUBLIC_NAMES) t.not(api[name], undefined, name);
});

test('hgad/internal holds the building blocks and every public name, the same objects', (t) => {
  const api = require(path.join(root, 'dist', 'lib', 'index.js'));
  const internal = require(path.join(root, 'dist', 'lib', 'internal.js'));
  for (const name of PUBLIC_NAMES) t.is(internal[name], api[name], name);
  for (const name of INTERNAL_ONLY) {
    t.false(name in api, `${name} is public`);
    t.not(internal[name], undefined, `${name} is missing from hgad/internal`);
  }
});

test('package.json exports map hgad and hgad/internal and keeps main and types', (t) => {
  t.is(pkg.name, 'hgad');
  t.is(pkg.main, 'dist/lib/index.js');
  t.is(pkg.types, 'dist/lib/index.d.ts');
  t.deepEqual(Object.keys(pkg.exports).sort(), ['.', './internal', './package.json']);
  for (const [key, file] of [['.', 'index'], ['./internal', 'internal']]) {
    t.deepEqual(pkg.exports[key], { types: `./dist/lib/${file}.d.ts`, default: `./dist/lib/${file}.js` });
    t.true(fs.existsSync(path.join(root, 'dist', 'lib', `${file}.d.ts`)), `${file}.d.ts is built`);
  }
});

test('require resolves hgad and hgad/internal by name through the exports map', (t) => {
  t.is(resolveFromPackage('hgad'), path.join(root, 'dist', 'lib', 'index.js'));
  t.is(resolveFromPackage('hgad/internal'), path.join(root, 'dist', 'lib', 'internal.js'));
  t.is(resolveFromPackage('hgad/package.json'), path.join(root, 'package.json'));
  t.is(require(resolveFromPackage('hgad')).HGAD, require(path.join(root, 'dist', 'lib', 'index.js')).HGAD);
  // Paths outside the map are closed: deep imports go through hgad/internal.
  const err = t.throws(() => resolveFromPackage('hgad/dist/lib/tensor.js'));
  t.is((err as NodeJS.ErrnoException).code, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
});
