// hgad test: an image-trained model on the test split of a data set in the
// MVTec AD layout: per-class and mean image AUROC, pixel AUROC, AUPRO and
// F1-max as JSON, optionally an HTML report and every map as .npy + .png.
import { MAP_KINDS } from '../hgad/map_kind';
import * as path from 'path';
import { writeFileAtomicAsync } from '../io/atomic';
import { indexDataset, TestImage } from '../images/dataset';
import { inspectTestSet } from '../images/inspect';
import { displayImage } from '../localise/outputs';
import { ClassResult, evaluateImages } from '../localise/evaluate';
import { openModelBackbone } from '../localise/score_images';
import type { MapKind } from '../hgad/map_kind';
import { heatmapPng, writeMapFiles } from '../maps/heatmap';
import type { LocalisationMetrics } from '../metrics/localisation';
import { describeMean, meanOverClasses, metricsJson } from '../metrics/summary';
import { renderReport, ReportClass, ReportExample } from '../report/html';
import { ParsedArgs } from './args';
import { err, out } from './command';
import { CliError } from './errors';
import { backboneInput, checkMapNames, checkOutputs } from './outputs';
import { checkDevice, deviceOptions, loadModel } from './model_file';
import { classFreeRule } from './class_free_flag';
import { levelCalibrations, openStaged, runImageCommand } from './image_run';

const EXAMPLES = 4;


interface Scored {
  image: TestImage;
  score: number;
  map: Float32Array;
  mask: Uint8Array;
}

async function examples(items: Scored[], preprocessing: Parameters<typeof displayImage>[1], range: [number, number]): Promise<ReportExample[]> {
  const S = preprocessing.crop;
  return Promise.all(
    items.map(async (s) => ({
      name: path.basename(s.image.path),
      defect: s.image.defect,
      score: s.score,
      png: await heatmapPng({ map: s.map, width: S, height: S, range, image: await displayImage(s.image.path, preprocessing), mask: s.image.maskPath ? s.mask : undefined }),
    })),
  );
}

/** One class's section of the report: its metrics, curves, and the highest-scored normal and lowest-scored anomalous images. */
export async function reportSection(r: ClassResult, preprocessing: Parameters<typeof displayImage>[1], range: [number, number], name: string): Promise<ReportClass> {
  const S = preprocessing.crop;
  const scored: Scored[] = r.images.map((image, i) => ({ image, score: r.scores[i], map: r.maps.subarray(i * S * S, (i + 1) * S * S), mask: r.masks.subarray(i * S * S, (i + 1) * S * S) }));
  const normal = scored.filter((s) => !s.image.maskPath).sort((a, b) => b.score - a.score).slice(0, EXAMPLES);
  const anomalous = scored.filter((s) => s.image.maskPath).sort((a, b) => a.score - b.score).slice(0, EXAMPLES);
  const m = r.metrics;
  return { name, metrics: m, curves: (m as { curves?: ReportClass['curves'] }).curves, topNormal: await examples(normal, preprocessing, range), bottomAnomalous: await examples(anomalous, preprocessing, range) };
}

/** The range of a class's maps, for one colour scale across its heat maps. */
export function mapRange(maps: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of maps) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Shares of normal and defective images whose inferred class is `want` (NaN where there are none; null values when want < 0). */
function inferenceAccuracy(images: TestImage[], classes: Int32Array, want: number): { normal: number; defective: number } {
  const share = (normal: boolean) => {
    const idx = images.map((im, i) => ((im.maskPath === null) === normal ? i : -1)).filter((i) => i >= 0);
    return idx.filter((i) => classes[i] === want).length / idx.length;
  };
  return want < 0 ? { normal: NaN, defective: NaN } : { normal: share(true), defective: share(false) };
}

export async function runTest(args: ParsedArgs): Promise<number> {
  const modelFile = args.need('model');
  const dataDir = args.need('data');
  const jsonFile = args.need('json');
  const reportFile = args.string('report');
  const mapsDir = args.string('maps');
  const kind = args.choice('score', MAP_KINDS, 'calibrated') as MapKind;
  const topK = args.int('top-k', { min: 1, fallback: 1 })!;
  const sigma = args.number('sigma', { min: 0, fallback: 4 })!;
  const batchSize = args.int('batch-size', { min: 1, fallback: 8 })!;
  const device = deviceOptions(args);
  checkOutputs(
    [{ flag: '--json', path: jsonFile, kind: 'file' }, reportFile === undefined ? undefined : { flag: '--report', path: reportFile, kind: 'file' }, mapsDir === undefined ? undefined : { flag: '--maps', path: mapsDir, kind: 'folder' }],
    [{ what: '--model', path: modelFile }, { what: '--data', path: dataDir }, await backboneInput(args.string('backbone'))],
  );
  await checkDevice(device);

  const model = await loadModel(modelFile, device);
  const names = model.config.classNames;
  if (!model.config.features) {
    throw new CliError(`${modelFile}: the model was trained on feature vectors, not on images; hgad test needs a model from hgad fit (it records the backbone and preprocessing)`);
  }
  const found = await indexDataset(dataDir, { classes: args.list('classes') });
  for (const s of found.skipped) err(`hgad: warning: skipped ${s.path}: ${s.reason}\n`);
  const classFree = args.flag('class-free') ? classFreeRule(args, model, modelFile) : undefined;
  if (!classFree && args.string('rule') !== undefined) throw new CliError('--rule needs --class-free');
  for (const cls of found.classNames) {
    if (!classFree && !names.includes(cls)) throw new CliError(`${dataDir}: class ${cls} is not a class of the model (${names.join(', ')}); use --class-free to score without it`);
  }
  // Every test image and mask header before any scoring: a mask of another size, an unreadable file fail here.
  const inspected = await inspectTestSet(found, { skipUnreadable: args.flag('skip-unreadable') });
  for (const s of inspected.skipped) err(`hgad: warning: skipped ${s.path}: ${s.reason}\n`);
  const index = { ...found, test: inspected.test };
  if (mapsDir !== undefined) checkMapNames('--maps', mapsDir, index.test.map((i) => ({ path: i.path, folder: path.join(index.classNames[i.classId], i.defect) })));
  const inferredRight: Record<string, { normal: number; defective: number }> = {};
  levelCalibrations(model, kind, modelFile);
  const staged = openStaged(mapsDir, '--maps');
  const { backbone, preprocessing } = await openModelBackbone(model, args.string('backbone'), modelFile);
  const S = preprocessing.crop;
  const sections: ReportClass[] = [];
  const perClass: Record<string, LocalisationMetrics> = await runImageCommand(staged, backbone, model, () =>
    evaluateImages(model, index, backbone, preprocessing, { kind, sigma, topK, batchSize, curves: reportFile !== undefined, classFree }, async (r) => {
      const { name: cls, images, maps, scores, masks, metrics: m } = r;
      if (r.classFree) inferredRight[cls] = inferenceAccuracy(images, r.classFree.classes, names.indexOf(cls));
      err(`${cls}: ${images.length} images in ${r.seconds.toFixed(1)} s; image AUROC ${m.imageAuroc.toFixed(3)}, pixel AUROC ${m.pixelAuroc.toFixed(3)}, AUPRO ${m.aupro.toFixed(3)}\n`);
      const scored: Scored[] = images.map((image, i) => ({ image, score: scores[i], map: maps.subarray(i * S * S, (i + 1) * S * S), mask: masks.subarray(i * S * S, (i + 1) * S * S) }));
      const [lo, hi] = mapRange(maps);
      if (staged) {
        for (const s of scored) {
          const stem = path.basename(s.image.path, path.extname(s.image.path));
          await writeMapFiles(staged.file(cls, s.image.defect, stem), {
            map: s.map, width: S, height: S, range: [lo, hi], image: await displayImage(s.image.path, preprocessing), mask: s.image.maskPath ? s.mask : undefined,
          });
        }
      }
      if (reportFile !== undefined) sections.push(await reportSection(r, preprocessing, [lo, hi], cls));
    }),
  );
  const json: ReturnType<typeof metricsJson> & { class_free?: unknown } = metricsJson(perClass, kind);
  // Share of each class's normal and defective test images whose inferred class is the folder's (null: not a class of the model).
  if (classFree) json.class_free = { rule: classFree, inferred_class_right: inferredRight };
  await writeFileAtomicAsync(jsonFile, Buffer.from(JSON.stringify(json, null, 2) + '\n'));
  if (reportFile !== undefined) {
    const html = renderReport({
      title: `hgad test: ${path.basename(modelFile)} on ${path.basename(path.resolve(dataDir))}`,
      scoreKind: `${kind} map, image score = ${topK === 1 ? 'max' : `mean of the top ${topK} pixels`}, sigma ${sigma}`,
      classes: sections,
      mean: meanOverClasses(perClass),
      notes: [`model ${path.resolve(modelFile)}`, `data ${path.resolve(dataDir)}`, `${new Date().toISOString()}`],
    });
    await writeFileAtomicAsync(reportFile, Buffer.from(html));
  }
  staged?.commit();
  out(`${describeMean(perClass)} (${kind})\n`);
  return 0;
}
