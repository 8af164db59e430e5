// The defect benchmark: HGAD and the single-Gaussian conditional flow
// (CFLOW-style), each trained unified on every class of a make:defects set
// with the same backbone, the same cached features, the same loop and budget,
// then tested with the same maps; per class and mean image AUROC, pixel AUROC
// and AUPRO, and the training time of each.
//   npm run eval:defects -- --data DIR --json F [--score calibrated|class-calibrated|fused|logp]
//        [--also KIND,...] (more map kinds on the same trained models, under "also") [--meta-epochs 4]
//        [--sub-epochs 2] [--image-size 56] [--cond-channels 64] [--couplings 8] [--intra-centres 10]
//        [--lr 2e-4] [--seed 0] [--backbone F.onnx] [--cache DIR]
//        [--settings labelled,flow,labelfree,labelfree-true] (the trainings: labelled HGAD, another model kind by name,
//        label-free HGAD with K chosen and with K = the true class count) [--class-free] (also score the
//        labelled models without class ids: rules inferred and marginal; label-free models always are)
//        [--positions-per-image N|1/16] (position sampling) [--preset reference|fast] [--kinds hgad,flow]
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { threads } from '../lib/backend/index';
import { MODEL_KINDS, ModelKind } from '../lib/hgad/config';
import { indexDataset } from '../lib/images/dataset';
import { parsePositions } from '../lib/hgad/position_sampling';
import { PRESET_NAMES, PresetName } from '../lib/hgad/presets';
import { evaluateImages } from '../lib/localise/evaluate';
import { MAP_KINDS, MapKind } from '../lib/hgad/map_kind';
import { openModelBackbone } from '../lib/localise/score_images';
import type { ClassFreeRule } from '../lib/hgad/types';
import { clusterAgreement, evaluateClassFree, rates } from './class_free_eval';
import { meanOverClasses } from '../lib/metrics/summary';
import { fitImages } from '../lib/images/fit_images';

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function num(name: string, fallback: number, integer = true): number {
  const raw = arg(name, String(fallback))!;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new RangeError(`Expected a positive ${integer ? 'integer' : 'number'} for --${name} but received ${raw}`);
  return v;
}

// labelled HGAD, every other registered model kind by its name, label-free HGAD (K chosen, K = the true count)
const SETTINGS = ['labelled', ...MODEL_KINDS.filter((k) => k !== 'hgad'), 'labelfree', 'labelfree-true'];

async function main(): Promise<void> {
  const data = arg('data');
  const jsonFile = arg('json');
  if (!data) throw new TypeError('Expected a data set folder for --data but received nothing');
  if (!jsonFile) throw new TypeError('Expected a file for --json but received nothing');
  const score = (arg('score', 'calibrated') as MapKind);
  if (!MAP_KINDS.includes(score)) throw new RangeError(`Expected one of ${MAP_KINDS.join(', ')} for --score but received ${score}`);
  const also = (arg('also', '') as string).split(',').filter((k) => k !== '') as MapKind[];
  for (const k of also) if (!MAP_KINDS.includes(k)) throw new RangeError(`Expected one of ${MAP_KINDS.join(', ')} for --also but received ${k}`);
  const extra: Record<string, Record<string, unknown>> = Object.fromEntries(also.map((k) => [k, {}]));
  const imageSize = num('image-size', 56);
  const train = {
    imageSize,
    condChannels: num('cond-channels', 64),
    couplings: num('couplings', 8),
    intraCentres: num('intra-centres', 10),
    metaEpochs: num('meta-epochs', 4),
    subEpochs: num('sub-epochs', 2),
    lr: num('lr', 2e-4, false),
    seed: Number(arg('seed', '0')),
    backbone: arg('backbone'),
    cacheDir: arg('cache', path.join(os.tmpdir(), 'hgad-eval-defects-cache')),
    ...(arg('positions-per-image') === undefined ? {} : parsePositions(arg('positions-per-image')!, '--positions-per-image')),
    ...(arg('preset') === undefined ? {} : { preset: arg('preset') as PresetName }),
  };
  if (train.preset !== undefined && !PRESET_NAMES.includes(train.preset)) throw new RangeError(`Expected one of ${PRESET_NAMES.join(', ')} for --preset but received ${train.preset}`);
  const kinds = arg('kinds');
  for (const k of (kinds ?? '').split(',').filter((x) => x !== '')) if (!(MODEL_KINDS as readonly string[]).includes(k)) throw new RangeError(`Expected kinds among ${MODEL_KINDS.join(', ')} for --kinds but received ${k}`);
  // --kinds hgad,flow is --settings labelled,flow
  const settings = (kinds !== undefined ? kinds.replace('hgad', 'labelled') : (arg('settings', 'labelled,flow') as string)).split(',').filter((k) => k !== '');
  for (const k of settings) if (!SETTINGS.includes(k)) throw new RangeError(`Expected settings among ${SETTINGS.join(', ')} for --settings but received ${k}`);
  const classFree = process.argv.includes('--class-free');
  const index = await indexDataset(data);
  const result: Record<string, unknown> = { classes: index.classNames, score, settings: { ...train, threads: threads() } };
  const seconds: Record<string, number> = {};
  const rows: Record<string, unknown> = {};
  const schedules: Record<string, unknown> = {};
  for (const setting of settings) {
    const kind: ModelKind = (MODEL_KINDS as readonly string[]).includes(setting) ? (setting as ModelKind) : 'hgad';
    const key = setting === 'labelled' ? 'hgad' : setting;
    const labelFree = setting.startsWith('labelfree');
    // every setting reads the same feature cache (the first run fills it); the time is the training loop's
    const fitted = await fitImages({ data: index, kind, ...train, ...(labelFree ? { pseudoLabels: setting === 'labelfree-true' ? { K: index.classNames.length } : true } : {}) });
    seconds[key] = fitted.summary.seconds;
    schedules[setting] = fitted.summary.schedule;
    const { backbone, preprocessing } = await openModelBackbone(fitted.model, train.backbone, `${kind} model`);
    try {
      const names = fitted.model.config.classNames;
      const agreement = labelFree ? clusterAgreement(fitted) : null;
      const truthOf = agreement ? (cls: string) => agreement.majority[cls] : (cls: string) => names.indexOf(cls);
      if (agreement) console.error(`${setting}: K = ${agreement.K}, ARI ${agreement.ari.toFixed(3)} (silhouettes ${agreement.silhouettes.map((v) => v.toFixed(3)).join(', ')})`);
      const out: Record<string, unknown> = { train_seconds: seconds[key], ...(agreement ? { clusters: agreement } : {}) };
      if (!labelFree) {
        const perClass = await evaluateImages(fitted.model, index, backbone, preprocessing, { kind: score });
        const table: Record<string, unknown> = {};
        for (const [cls, m] of Object.entries(perClass)) table[cls] = rates(m);
        table.mean = rates(meanOverClasses(perClass));
        result[key] = table;
        out.given = table.mean;
        const mean = table.mean as ReturnType<typeof rates>;
        console.error(`${setting}: trained in ${seconds[key].toFixed(1)} s; class given: mean image AUROC ${mean.image_auroc.toFixed(3)}, pixel AUROC ${mean.pixel_auroc.toFixed(3)}, AUPRO ${mean.aupro.toFixed(3)}`);
        for (const k of also) {
          const other = await evaluateImages(fitted.model, index, backbone, preprocessing, { kind: k });
          const t: Record<string, unknown> = {};
          for (const [cls, m] of Object.entries(other)) t[cls] = rates(m);
          t.mean = rates(meanOverClasses(other));
          extra[k][key] = t;
        }
      }
      if (classFree || labelFree) {
        // A head without an inter-class posterior has nothing to infer a class from.
        for (const rule of (fitted.model.core.levels[0].head.hasEntropy ? ['inferred', 'marginal'] : ['marginal']) as ClassFreeRule[]) {
          const row = await evaluateClassFree(fitted.model, index, backbone, preprocessing, score, rule, truthOf);
          out[rule] = row;
          console.error(`${setting} class-free ${rule}: mean image AUROC ${row.mean.image_auroc.toFixed(3)}, pixel AUROC ${row.mean.pixel_auroc.toFixed(3)}, AUPRO ${row.mean.aupro.toFixed(3)}; inferred class right on ${(100 * row.inference!.normal).toFixed(1)} % of normal, ${(100 * row.inference!.defective).toFixed(1)} % of defective images`);
        }
      }
      rows[setting] = out;
    } finally {
      await backbone.close();
      fitted.model.close();
    }
  }
  result.train_seconds = seconds;
  result.rows = rows;
  result.schedules = schedules;
  if (also.length > 0) result.also = extra;
  fs.writeFileSync(jsonFile, JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify({ rows: Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([r, x]) => [r, (x as { mean?: unknown })?.mean ?? x]))])), train_seconds: seconds }));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
