// hgad predict: anomaly score and map of images with an image-trained model,
// streamed: each batch's JSON lines (and map files) go out as soon as the
// batch is scored, so memory stays flat in the number of images. The images
// come from the arguments or a manifest; the lines go to stdout or are
// appended to a --jsonl file that --resume continues (lib/cli/predict_sources.ts).
// The set-relative scores (fused, logp) need every image before any map:
// they score the positions batch by batch, then the maps of the whole set at
// once (their memory grows with the number of images, as they must).
import * as fs from 'fs';
import * as path from 'path';
import { lookupClass, shownClasses } from '../hgad/class_lookup';
import { displayImage } from '../localise/outputs';
import { isCalibratedKind, MAP_KINDS } from '../hgad/map_kind';
import { openModelBackbone, scoreImagePositions } from '../localise/score_images';
import { concatPositionScores, mapCalibration, MapKind, PositionScores } from '../hgad/score_maps';
import { writeMapFiles } from '../maps/heatmap';
import { ParsedArgs } from './args';
import { out } from './command';
import { CliError, UsageError } from './errors';
import { levelCalibrations, runImageCommand } from './image_run';
import { backboneInput, checkMapNames, checkOutputs } from './outputs';
import { checkDevice, deviceOptions, loadModel } from './model_file';
import { ImageItem, imageItem, itemKey, LineAppender, manifestItems, resumeKeys } from './predict_sources';
import { classFreeRule } from './class_free_flag';
import { classFreeMapCalibration } from '../hgad/class_free_maps';

/** Images per backbone run and per streamed batch of lines. */
const BATCH = 8;

/** The maps folder of --out: created when missing; it must be empty unless the run resumes. */
function openMapsFolder(dir: string, resume: boolean): string {
  const abs = path.resolve(dir);
  const st = fs.statSync(abs, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) throw new CliError(`--out ${dir}: exists and is not a folder`);
  if (st && !resume && fs.readdirSync(abs).length > 0) throw new CliError(`--out ${dir}: exists and is not an empty folder`);
  if (!st) {
    try {
      fs.mkdirSync(abs);
    } catch (e) {
      throw new CliError(`--out ${dir}: the folder ${path.dirname(abs)} does not exist or is not writable (${(e as NodeJS.ErrnoException).code})`);
    }
  }
  return abs;
}

export async function runPredict(args: ParsedArgs): Promise<number> {
  const modelFile = args.need('model');
  const manifest = args.string('manifest');
  const jsonl = args.string('jsonl');
  const resume = args.flag('resume');
  const positional = args.positionals;
  if (manifest !== undefined && positional.length > 0) throw new UsageError('give either IMAGE... or --manifest F, not both', 'predict');
  if (manifest === undefined && positional.length === 0) throw new UsageError('no IMAGE given (or --manifest F)', 'predict');
  if (resume && jsonl === undefined) throw new UsageError('--resume needs --jsonl FILE (the lines to continue)', 'predict');
  const kind = args.choice('score', MAP_KINDS, 'calibrated') as MapKind;
  if (!isCalibratedKind(kind) && (manifest !== undefined || jsonl !== undefined)) {
    throw new UsageError(`--score ${kind} is relative to the whole set of images; --manifest and --jsonl score batch by batch and need calibrated or class-calibrated`, 'predict');
  }
  const topK = args.int('top-k', { min: 1, fallback: 1 })!;
  const sigma = args.number('sigma', { min: 0, fallback: 4 })!;
  const outDir = args.string('out');
  const device = deviceOptions(args);
  const given = positional.map((f) => imageItem(f));
  if (outDir !== undefined) checkMapNames('--out', outDir, positional.map((f) => ({ path: f, folder: '' })));
  checkOutputs(
    [
      outDir === undefined ? undefined : { flag: '--out', path: outDir, kind: resume ? 'cache' : 'folder' },
      jsonl === undefined ? undefined : { flag: '--jsonl', path: jsonl, kind: 'file' },
    ],
    [
      { what: '--model', path: modelFile },
      await backboneInput(args.string('backbone')),
      manifest === undefined ? undefined : { what: '--manifest', path: manifest },
      ...positional.map((f) => ({ what: 'IMAGE', path: f })),
    ],
  );
  if (jsonl !== undefined && !resume && fs.existsSync(jsonl)) throw new CliError(`--jsonl ${jsonl}: exists; pass --resume to continue it, or remove it`);
  await checkDevice(device);
  const model = await loadModel(modelFile, device);
  if (!model.config.features) {
    throw new CliError(`${modelFile}: the model was trained on feature vectors, not on images; hgad predict needs a model from hgad fit`);
  }
  let classId: number | undefined;
  const raw = args.string('class');
  if (raw !== undefined) {
    if (args.string('rule') !== undefined) throw new UsageError('give --class or --rule (class-free), not both', 'predict');
    const found = lookupClass(model.config.classNames, raw);
    if (found.id === undefined) {
      const what = found.error === 'id out of range' ? 'class id out of range' : 'not a class of the model';
      throw new CliError(`--class ${raw}: ${what} (${shownClasses(model.config.classNames)}; "#N" names the class id N)`);
    }
    classId = found.id;
  }
  // without --class each image is scored class-free (its class inferred, lib/hgad/class_free.ts)
  const rule = classId === undefined ? classFreeRule(args, model, modelFile) : undefined;
  const names = model.config.classNames;
  const calibrations = levelCalibrations(model, kind, modelFile);
  const done = jsonl !== undefined && resume ? await resumeKeys(jsonl) : new Set<string>();
  const mapsDir = outDir !== undefined ? openMapsFolder(outDir, resume) : null;
  const { backbone, preprocessing } = await openModelBackbone(model, args.string('backbone'), modelFile);
  const S = preprocessing.crop;
  const mapOptions = { height: S, width: S, kind, sigma, topK };
  const appender = jsonl !== undefined ? new LineAppender(jsonl) : null;
  let scored = 0;
  let skipped = 0;

  /** Maps, map files and lines of one batch from its position scores; the lines go out at once. */
  const emit = async (batch: ImageItem[], positions: PositionScores): Promise<void> => {
    const cf = positions.classFree;
    const calibration = cf ? classFreeMapCalibration(calibrations, cf, kind, positions.logp) : mapCalibration(calibrations, classId!, kind);
    const { maps, scores } = await model.imageMaps(positions, calibration, mapOptions);
    const lines: string[] = [];
    for (let i = 0; i < batch.length; ++i) {
      const { image, size, mtimeMs } = batch[i];
      let files: { npy: string; png: string } | null = null;
      if (mapsDir !== null) {
        const stem = path.join(mapsDir, path.basename(image, path.extname(image)));
        // DIR started empty, so an existing map is another image's of the same name; on --resume it may be one the batch in flight of a killed run wrote, and is replaced
        if (!resume && fs.existsSync(`${stem}.npy`)) {
          throw new CliError(`--out ${outDir}: ${stem}.npy exists; two images share the name ${path.basename(stem)} and their maps would overwrite each other`);
        }
        files = await writeMapFiles(stem, { map: maps.subarray(i * S * S, (i + 1) * S * S), width: S, height: S, image: await displayImage(image, preprocessing) });
      }
      const inferred = cf ? { class: names[cf.classes[i]], posterior: cf.posterior[i], rule: cf.rule, ...(cf.clusters ? { cluster: names[cf.clusters[i]] } : {}) } : { class: names[classId!] };
      const line: Record<string, unknown> = { image, ...inferred, score: scores[i], map: files?.npy ?? null, png: files?.png ?? null };
      if (appender) Object.assign(line, { size, mtime: mtimeMs });
      lines.push(JSON.stringify(line));
    }
    if (appender) appender.append(lines);
    else out(lines.join('\n') + '\n');
    scored += batch.length;
  };

  await runImageCommand(null, backbone, model, async () => {
    try {
      const source: AsyncIterable<ImageItem> | ImageItem[] = manifest !== undefined ? manifestItems(manifest) : given;
      if (!isCalibratedKind(kind)) {
        // set-relative maps: every image's positions first (small), then the maps batch by batch over the whole set's scores
        const parts: PositionScores[] = [];
        for (let i = 0; i < given.length; i += BATCH) parts.push(await scoreImagePositions(model, backbone, preprocessing, given.slice(i, i + BATCH).map((g) => g.image), classId, BATCH, rule));
        await emit(given, concatPositionScores(parts));
        return;
      }
      let batch: ImageItem[] = [];
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        const b = batch;
        batch = [];
        await emit(b, await scoreImagePositions(model, backbone, preprocessing, b.map((g) => g.image), classId, BATCH, rule));
      };
      for await (const item of source) {
        // only the earlier run's keys are held: memory does not grow with this run's images
        if (done.size > 0 && done.has(itemKey(item))) {
          ++skipped;
          continue;
        }
        batch.push(item);
        if (batch.length === BATCH) await flush();
      }
      await flush();
    } finally {
      appender?.close();
    }
  });
  if (appender) out(`scored ${scored} image${scored === 1 ? '' : 's'}${resume ? ` (${skipped} already in ${jsonl})` : ''}; appended to ${jsonl}\n`);
  return 0;
}
