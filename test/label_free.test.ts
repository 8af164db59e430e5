// Images without labels: hgad fit --labels auto on a flat folder and on the
// class layout (folders ignored), the clusters and their centroids in the
// model, predict without --class (inferred class, posterior, cluster), test
// --class-free, one image alone against the same image in a batch, and K = 1.
import test from 'ava';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { HGAD } from '../lib/hgad';
import { indexDataset } from '../lib/images/dataset';
import { expectFailure, runCli } from './helpers/cli_run';
import { makeMvtec, tempDir } from './helpers/mvtec';
import { fitImages } from '../lib/images/fit_images';
import { scoreImages } from '../lib/localise/score_images';

const root = path.join(__dirname, '..', '..');
const small = ['--image-size', '32', '--cond-channels', '8', '--couplings', '1', '--intra-centres', '2', '--meta-epochs', '2', '--sub-epochs', '1', '--batch-images', '4', '--quiet'];

/** A flat data set, DIR/{train/good, test/good, test/hole, ground_truth/hole}: the class folder of a one-class MVTec set. */
async function flatSet(): Promise<string> {
  const mv = await makeMvtec({ heap: { train: 6, good: 2, defects: { hole: 2 } } });
  return path.join(mv, 'heap');
}

test('a flat folder indexes as one class and trains label-free (K = 1 given); predict scores without --class', async (t) => {
  const data = await flatSet();
  const index = await indexDataset(data);
  t.deepEqual(index.classNames, ['heap']);
  t.is(index.train.length, 6);
  t.is(index.test.length, 4);
  const dir = tempDir('hgad-lf-');
  const model = path.join(dir, 'm.safetensors');
  const r = await runCli(['fit', '--data', data, '--labels', 'auto:1', '--out', model, '--cache', path.join(dir, 'cache'), ...small]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /label-free: 1 cluster \(K given\); images per cluster 6/);
  const m = await HGAD.load(model);
  t.deepEqual(m.config.classNames, ['cluster-0']);
  t.is(m.config.pseudoLabels!.centroids.length, 32 + 64 + 96);
  t.true(m.core.levels.every((l) => !!l.calibration?.marginal?.positions));
  m.close();

  const img = index.test[0].path;
  const p = await runCli(['predict', '--model', model, img]);
  t.is(p.code, 0, p.stderr);
  const line = JSON.parse(p.stdout);
  t.is(line.class, 'cluster-0');
  t.is(line.cluster, 'cluster-0');
  t.is(line.rule, 'marginal');
  t.is(line.posterior, 1);
  t.true(Number.isFinite(line.score));
  const inferred = JSON.parse((await runCli(['predict', '--model', model, '--rule', 'inferred', img])).stdout);
  t.is(inferred.rule, 'inferred');
  // one class: the inferred class's score is the class-given score
  const given = JSON.parse((await runCli(['predict', '--model', model, '--class', 'cluster-0', img])).stdout);
  t.is(inferred.score, given.score);
  await expectFailure(t, ['predict', '--model', model, '--class', 'cluster-0', '--rule', 'marginal', img], 2, { match: /give --class or --rule/ });

  const json = path.join(dir, 'metrics.json');
  const tr = await runCli(['test', '--model', model, '--data', data, '--json', json, '--class-free']);
  t.is(tr.code, 0, tr.stderr);
  const metrics = JSON.parse(fs.readFileSync(json, 'utf8'));
  t.is(metrics.class_free.rule, 'marginal');
  t.true(Number.isFinite(metrics.mean.image_auroc));
  await expectFailure(t, ['test', '--model', model, '--data', data, '--json', path.join(dir, 'm2.json')], 1, { match: /class heap is not a class of the model .*--class-free/ });
  await expectFailure(t, ['fit', '--data', data, '--labels', 'auto:x', '--out', path.join(dir, 'x.safetensors'), ...small], 2, { match: /--labels with --data takes auto or auto:K/ });
});

test('label-free training on the class layout ignores the folders; class-free scores of an image alone equal those in a batch', async (t) => {
  const dir = tempDir('hgad-lf-');
  const data = path.join(dir, 'defects');
  execFileSync(process.execPath, [path.join(root, 'dist', 'bench', 'make_defects.js'), '--out', data, '--data', path.join(root, 'data', 'fmnist-subset'),
    '--classes', 'tshirt,bag', '--train', '8', '--test-good', '2', '--per-defect', '1']);
  const fitted = await fitImages({ data, pseudoLabels: true, cacheDir: path.join(dir, 'cache'), imageSize: 32, condChannels: 8, couplings: 1, intraCentres: 2, metaEpochs: 2, subEpochs: 1, imagesPerBatch: 4, seed: 3 });
  const c = fitted.clusters!;
  t.true(c.K >= 1 && c.K <= 10);
  t.is(c.assignment.length, 16);
  t.is(c.chosenBy, 'silhouette');
  t.deepEqual(fitted.model.config.classNames, Array.from({ length: c.K }, (_, k) => `cluster-${k}`));
  // the same seed gives the same clusters
  const again = await fitImages({ data, pseudoLabels: true, cacheDir: path.join(dir, 'cache'), imageSize: 32, condChannels: 8, couplings: 1, intraCentres: 2, metaEpochs: 1, subEpochs: 1, imagesPerBatch: 4, seed: 3 });
  t.deepEqual(Array.from(again.clusters!.assignment), Array.from(c.assignment));
  again.model.close();

  const index = await indexDataset(data);
  const files = index.test.map((x) => x.path).slice(0, 4);
  for (const classFree of ['inferred', 'marginal'] as const) {
    const batch = await scoreImages(fitted.model, files, { classFree });
    t.is(batch.classId, null);
    const cf = batch.positions.classFree!;
    t.is(cf.rule, classFree);
    t.is(cf.clusters!.length, files.length);
    for (const i of [0, 3]) {
      const alone = await scoreImages(fitted.model, [files[i]], { classFree });
      // the flows' GEMMs round differently with the batch size: equal to float32 precision
      const near = (a: number, b: number) => Math.abs(a - b) <= 1e-4 + 1e-4 * Math.abs(b);
      t.true(near(alone.scores[0], batch.scores[i]), `${alone.scores[0]} alone, ${batch.scores[i]} in the batch`);
      const S = alone.height;
      t.true(alone.maps.every((v, j) => near(v, batch.maps[i * S * S + j])));
      t.is(alone.positions.classFree!.classes[0], cf.classes[i]);
      t.true(near(alone.positions.classFree!.posterior[0], cf.posterior[i]));
      t.is(alone.positions.classFree!.clusters![0], cf.clusters![i]);
    }
  }
  fitted.model.close();
});
