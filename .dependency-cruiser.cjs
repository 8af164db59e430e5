// The layer rules of lib/ (ARCHITECTURE.md, "Layers"), checked by
// dependency-cruiser in `npm test` (test/layers.test.ts). Data flows top to
// bottom; an import may skip layers downwards, never go up:
//
//   cli > queue > serve > localise, report > images > hgad > maps, metrics
//       > nn, optim > autograd > tensor > backend > binding
//
// io, data and the leaf files (errors, random) sit beside the stack: anything
// may use them, and they use nothing above the tensor and backend.
'use strict';

/** Each layer and the layers above it (what it must never import). */
const ORDER = [
  ['cli', 'lib/cli/'],
  ['serve', 'lib/serve/'],
  ['queue', 'lib/queue/'],
  ['localise', 'lib/localise/'],
  ['report', 'lib/report/'],
  ['images', 'lib/images/'],
  ['hgad', 'lib/hgad/'],
  ['maps', 'lib/maps/'],
  ['metrics', 'lib/metrics/'],
  ['nn', 'lib/nn/'],
  ['optim', 'lib/optim/'],
  ['autograd', 'lib/autograd/'],
  ['tensor', 'lib/tensor\\.ts$'],
  ['backend', 'lib/backend/'],
];
// Layers of one rank may not import each other either (serve/queue,
// localise/report, maps/metrics, nn/optim are siblings); queue workers score
// through the service's ImageScorer, so queue sits above serve.
const RANK = { cli: 0, queue: 1, serve: 1.5, localise: 2, report: 2, images: 3, hgad: 4, maps: 5, metrics: 5, nn: 6, optim: 6, autograd: 7, tensor: 8, backend: 9 };

const esc = (p) => `^${p}`;
const layerRules = ORDER.map(([name, path]) => {
  const above = ORDER.filter(([other]) => other !== name && RANK[other] <= RANK[name]).map(([, p]) => esc(p));
  return {
    name: `no-upward-from-${name}`,
    comment: `${name} imports only layers below it (ARCHITECTURE.md, "Layers")`,
    severity: 'error',
    from: { path: esc(path) },
    to: { path: above },
  };
}).filter((r) => r.to.path.length > 0);

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'no import cycle at run time (a cycle across layers, type-only or not, is an upward import and fails the layer rules)',
      severity: 'error',
      from: { path: '^lib/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    ...layerRules,
    {
      name: 'binding-only-from-backend',
      comment: 'the typed surface of the .node file is used by lib/backend alone',
      severity: 'error',
      from: { path: '^lib/', pathNot: '^lib/(backend/|binding\\.ts$)' },
      to: { path: '^lib/binding\\.ts$' },
    },
    {
      name: 'beside-stays-low',
      comment: 'io, data and the leaf files use nothing above the tensor and backend',
      severity: 'error',
      from: { path: '^lib/(io/|data/|errors\\.ts$|random\\.ts$)' },
      to: { path: '^lib/(cli|serve|queue|localise|report|images|hgad|maps|metrics|nn|optim|autograd)/' },
    },
    {
      name: 'nn-no-kernel-calls',
      comment: 'lib/nn composes autograd ops; it calls no backend itself (types only)',
      severity: 'error',
      from: { path: '^lib/nn/' },
      to: { path: '^lib/backend/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'core-knows-no-images',
      comment: 'the model core (lib/hgad, its worker included) knows nothing of images, scoring runs, reports, the service or the CLI',
      severity: 'error',
      from: { path: '^lib/hgad/' },
      to: { path: '^lib/(images|localise|report|serve|queue|cli)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '^(dist|node_modules)/' },
  },
};
