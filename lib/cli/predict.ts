// hgad predict: anomaly score and map of single images with an image-trained
// model; one JSON line per image on stdout, maps as .npy + .png with --out.
import * as fs from 'fs';
import * as path from 'path';
import { displayImage, StagedFolder } from '../localise/outputs';
import { openModelBackbone, resolveClassId, scoreImagePositions } from '../localise/score_images';
import { classCalibration, MAP_KINDS, MapKind, mapsFromScores } from '../localise/score_maps';
import { writeMapFiles } from '../maps/heatmap';
import { ParsedArgs } from './args';
import { Command, out } from './command';
import { CliError, UsageError } from './errors';
import { checkDevice, DEVICE_FLAGS, deviceOptions, loadModel } from './model_file';

export const predict: Command = {
  name: 'predict',
  summary: 'anomaly score and map of images with an image-trained model (one JSON line per image)',
  usage: ['hgad predict --model M.safetensors --class NAME [--out DIR] [options] IMAGE...'],
  positional: 'IMAGE...',
  flags: [
    { name: 'model', value: 'M.safetensors', required: true, help: 'a model trained on images (hgad fit)' },
    { name: 'class', value: 'NAME', required: true, help: 'the class the images are of (a class name of the model, or its id)' },
    { name: 'out', value: 'DIR', help: 'write each map as DIR/<stem>.npy (float32) and DIR/<stem>.png (heat map over the image); DIR must be new or empty' },
    { name: 'score', value: 'KIND', help: `calibrated (default; the same for an image alone or in any batch), fused or logp (relative to the images given)` },
    { name: 'top-k', value: 'K', help: 'image score = mean of the K highest pixels (default 1: the maximum)' },
    { name: 'sigma', value: 'S', help: 'Gaussian smoothing of the maps (default 4)' },
    { name: 'backbone', value: 'F.onnx', help: 'the backbone the model was trained with (default the shipped demo backbone)' },
    ...DEVICE_FLAGS,
  ],
  notes: ['Each line: {"image": PATH, "class": NAME, "score": S, "map": NPY or null, "png": PNG or null}.'],
  run: runPredict,
};

async function runPredict(args: ParsedArgs): Promise<number> {
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
  let classId: number;
  const raw = args.need('class');
  try {
    classId = resolveClassId(model, /^\d+$/.test(raw) ? Number(raw) : raw);
  } catch {
    throw new CliError(`--class ${raw}: not a class of the model (${model.config.classNames.join(', ')})`);
  }
  const calibrations = model.core.levels.map((l) => l.calibration);
  if (kind === 'calibrated' && calibrations.some((c) => !c)) throw new CliError(`${modelFile}: the model holds no calibration; use --score fused or logp`);
  let staged: StagedFolder | null = null;
  if (outDir !== undefined) {
    try {
      staged = StagedFolder.open(outDir, '--out');
    } catch (e) {
      throw new CliError((e as Error).message);
    }
  }
  const { backbone, preprocessing } = await openModelBackbone(model, args.string('backbone'), modelFile);
  const S = preprocessing.crop;
  const lines: string[] = [];
  try {
    const positions = await scoreImagePositions(model, backbone, preprocessing, images, classId);
    const { maps, scores } = mapsFromScores(positions, kind === 'calibrated' ? classCalibration(calibrations, classId) : null, { height: S, width: S, kind, sigma, topK, flow: model.config.kind === 'flow' });
    for (let i = 0; i < images.length; ++i) {
      let files: { npy: string; png: string } | null = null;
      if (staged) {
        const map = maps.subarray(i * S * S, (i + 1) * S * S);
        await writeMapFiles(staged.file(stems[i]), { map, width: S, height: S, image: await displayImage(images[i], preprocessing) });
        files = { npy: path.join(staged.target, `${stems[i]}.npy`), png: path.join(staged.target, `${stems[i]}.png`) };
      }
      lines.push(JSON.stringify({ image: images[i], class: model.config.classNames[classId], score: scores[i], map: files?.npy ?? null, png: files?.png ?? null }));
    }
    staged?.commit();
  } catch (e) {
    staged?.discard();
    throw e;
  } finally {
    await backbone.close();
    model.close();
  }
  out(lines.join('\n') + '\n');
  return 0;
}
