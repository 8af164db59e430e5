// The defect benchmark: HGAD and the single-Gaussian conditional flow
// (CFLOW-style), each trained unified on every class of a make:defects set
// with the same backbone, the same cached features, the same loop and budget,
// then tested with the same maps; per class and mean image AUROC, pixel AUROC
// and AUPRO, and the training time of each.
//   npm run eval:defects -- --data DIR --json F [--score calibrated|class-calibrated|fused|logp]
//        [--also KIND,...] (more map kinds on the same trained models, under "also") [--meta-epochs 4]
//        [--sub-epochs 2] [--image-size 56] [--cond-channels 64] [--couplings 8] [--intra-centres 10]
//        [--lr 2e-4] [--seed 0] [--backbone F.onnx] [--cache DIR]
//        [--positions-per-image N|1/16] (position sampling) [--preset reference|fast] [--kinds hgad,flow]
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { threads } from '../lib/backend/index';
import { HGAD } from '../lib/hgad';
import type { ModelKind } from '../lib/hgad/config';
import { indexDataset } from '../lib/images/dataset';
import { parsePositions } from '../lib/hgad/position_sampling';
import { PRESET_NAMES, PresetName } from '../lib/hgad/presets';
import { evaluateImages } from '../lib/localise/evaluate';
import { MAP_KINDS, MapKind } from '../lib/localise/map_kind';
import { openModelBackbone } from '../lib/localise/score_images';
import type { LocalisationMetrics } from '../lib/metrics/localisation';
import { meanOverClasses } from '../lib/metrics/summary';

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

const rates = (m: LocalisationMetrics) => ({ image_auroc: m.imageAuroc, pixel_auroc: m.pixelAuroc, aupro: m.aupro });

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
  const kinds = (arg('kinds', 'hgad,flow') as string).split(',');
  for (const k of kinds) if (k !== 'hgad' && k !== 'flow') throw new RangeError(`Expected hgad and/or flow for --kinds but received ${k}`);
  const index = await indexDataset(data);
  const result: Record<string, unknown> = { classes: index.classNames, score, settings: { ...train, threads: threads() } };
  const seconds: Record<string, number> = {};
  const schedules: Record<string, unknown> = {};
  for (const [kind, key] of ([['hgad', 'hgad'], ['flow', 'baseline']] as [ModelKind, string][]).filter(([k]) => kinds.includes(k))) {
    // both read the same feature cache (the first run fills it); the time is the training loop's
    const fitted = await HGAD.fitImages({ data: index, kind, ...train });
    seconds[key] = fitted.summary.seconds;
    schedules[key] = fitted.summary.schedule;
    const { backbone, preprocessing } = await openModelBackbone(fitted.model, train.backbone, `${kind} model`);
    let perClass: Record<string, LocalisationMetrics>;
    try {
      perClass = await evaluateImages(fitted.model, index, backbone, preprocessing, { kind: score });
      for (const k of also) {
        const other = await evaluateImages(fitted.model, index, backbone, preprocessing, { kind: k });
        const t: Record<string, unknown> = {};
        for (const [cls, m] of Object.entries(other)) t[cls] = rates(m);
        t.mean = rates(meanOverClasses(other));
        extra[k][key] = t;
        const mm = t.mean as ReturnType<typeof rates>;
        console.error(`${kind} (${k}): mean image AUROC ${mm.image_auroc.toFixed(3)}, pixel AUROC ${mm.pixel_auroc.toFixed(3)}, AUPRO ${mm.aupro.toFixed(3)}`);
      }
    } finally {
      await backbone.close();
      fitted.model.close();
    }
    const table: Record<string, unknown> = {};
    for (const [cls, m] of Object.entries(perClass)) table[cls] = rates(m);
    table.mean = rates(meanOverClasses(perClass));
    result[key] = table;
    const mean = table.mean as ReturnType<typeof rates>;
    console.error(`${kind}: trained in ${seconds[key].toFixed(1)} s; mean image AUROC ${mean.image_auroc.toFixed(3)}, pixel AUROC ${mean.pixel_auroc.toFixed(3)}, AUPRO ${mean.aupro.toFixed(3)}`);
  }
  result.train_seconds = seconds;
  result.schedules = schedules;
  if (also.length > 0) result.also = extra;
  fs.writeFileSync(jsonFile, JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify({ hgad: (result.hgad as Record<string, unknown> | undefined)?.mean, baseline: (result.baseline as Record<string, unknown> | undefined)?.mean, train_seconds: seconds }));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
