// hgad predict: anomaly score and map of single images with an image-trained
// model; one JSON line per image on stdout, maps as .npy + .png with --out.
import { MAP_KINDS } from '../localise/map_kind';
import * as fs from 'fs';
import * as path from 'path';
import { displayImage } from '../localise/outputs';
import { openModelBackbone, resolveClassId, scoreImagePositions } from '../localise/score_images';
import { mapCalibration, MapKind } from '../localise/score_maps';
import { writeMapFiles } from '../maps/heatmap';
import { ParsedArgs } from './args';
import { out } from './command';
import { CliError, UsageError } from './errors';
import { checkDevice, deviceOptions, loadModel } from './model_file';
import { classFreeRule } from './class_free_flag';
import { classFreeMapCalibration } from '../localise/class_free_maps';
import { levelCalibrations, openStaged, runImageCommand } from './image_run';


export async function runPredict(args: ParsedArgs): Promise<number> {
  const modelFile = args.need('model');
  const images = args.positionals;
  if (images.length === 0) throw new UsageError('no IMAGE given', 'predict');
  const kind = args.choice('score', MAP_KINDS, 'calibrated') as MapKind;
  const topK = args.int('top-k', { min: 1, fallback: 1 })!;
  const sigma = args.number('sigma', { min: 0, fallback: 4 })!;
  const outDir = args.string('out');
  const device = deviceOptions(args);
  for (const f of images) {
    if (!fs.statSync(f, { throwIfNoEntry: false })?.isFile()) throw new CliError(`${f}: no such image file`);
  }
  const stems = images.map((f) => path.basename(f, path.extname(f)));
  const dup = stems.find((s, i) => stems.indexOf(s) !== i);
  if (outDir !== undefined && dup !== undefined) throw new CliError(`--out ${outDir}: two images share the name ${dup}; their maps would overwrite each other`);
  await checkDevice(device);
  const model = await loadModel(modelFile, device);
  if (!model.config.features) {
    throw new CliError(`${modelFile}: the model was trained on feature vectors, not on images; hgad predict needs a model from hgad fit`);
  }
  let classId: number | undefined;
  const raw = args.string('class');
  if (raw !== undefined) {
    if (args.string('rule') !== undefined) throw new UsageError('give --class or --rule (class-free), not both', 'predict');
    try {
      classId = resolveClassId(model, /^\d+$/.test(raw) ? Number(raw) : raw);
    } catch {
      throw new CliError(`--class ${raw}: not a class of the model (${model.config.classNames.join(', ')})`);
    }
  }
  const rule = classId === undefined ? classFreeRule(args, model, modelFile) : undefined;
  const calibrations = levelCalibrations(model, kind, modelFile);
  const staged = openStaged(outDir, '--out');
  const { backbone, preprocessing } = await openModelBackbone(model, args.string('backbone'), modelFile);
  const S = preprocessing.crop;
  const lines: string[] = [];
  await runImageCommand(staged, backbone, model, async () => {
    const positions = await scoreImagePositions(model, backbone, preprocessing, images, classId, 8, rule);
    const cf = positions.classFree;
    const calibration = cf ? classFreeMapCalibration(calibrations, cf, kind, positions.logp) : mapCalibration(calibrations, classId!, kind);
    const { maps, scores } = await model.imageMaps(positions, calibration, { height: S, width: S, kind, sigma, topK, flow: model.config.kind === 'flow' });
    for (let i = 0; i < images.length; ++i) {
      let files: { npy: string; png: string } | null = null;
      if (staged) {
        const map = maps.subarray(i * S * S, (i + 1) * S * S);
        await writeMapFiles(staged.file(stems[i]), { map, width: S, height: S, image: await displayImage(images[i], preprocessing) });
        files = { npy: path.join(staged.target, `${stems[i]}.npy`), png: path.join(staged.target, `${stems[i]}.png`) };
      }
      const names = model.config.classNames;
      const inferred = cf ? { class: names[cf.classes[i]], posterior: cf.posterior[i], rule: cf.rule, ...(cf.clusters ? { cluster: names[cf.clusters[i]] } : {}) } : { class: names[classId!] };
      lines.push(JSON.stringify({ image: images[i], ...inferred, score: scores[i], map: files?.npy ?? null, png: files?.png ?? null }));
    }
    staged?.commit();
  });
  out(lines.join('\n') + '\n');
  return 0;
}
