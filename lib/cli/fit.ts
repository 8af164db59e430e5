// hgad fit: trains a unified model on a folder of images in the MVTec AD
// layout (HGAD.fitImages): features extracted once by a frozen ONNX backbone
// into the on-disk cache, then the reference's training loop; the model
// (which records its backbone) is written atomically when training succeeds.
import { ParsedArgs } from './args';
import { Command, err, out } from './command';
import { CliError, UsageError } from './errors';
import { backboneInput, checkOutputs, Input, Output } from './outputs';
import { checkDevice, DEVICE_FLAGS, deviceOptions } from './model_file';
import { ProgressBar, progressMode } from './progress';
import { MODEL_KINDS, ModelKind, modelKindsHelp } from '../hgad/config';
import { previewLine, SCHEDULE_FLAGS, scheduleOptions } from './fit_schedule';

export const fit: Command = {
  name: 'fit',
  summary: 'train a unified HGAD model on a folder of images (MVTec AD layout) through a frozen ONNX backbone',
  usage: ['hgad fit --data DIR --out M.safetensors [options]', 'hgad fit --feature-maps a.npy,b.npy --labels L.npy --out M.safetensors [options]'],
  flags: [
    { name: 'kind', value: 'K', help: modelKindsHelp() },
    { name: 'data', value: 'DIR', help: 'data set root: DIR/<class>/train/good/* (and test/, ground_truth/ as in MVTec AD)' },
    { name: 'feature-maps', value: 'a.npy,b.npy', help: 'instead of --data: precomputed feature maps, one (N, C, H, W) .npy per level' },
    { name: 'labels', value: 'L.npy', help: 'with --feature-maps: the (N,) class ids; with --data: auto or auto:K, train without labels (class folders ignored, a flat DIR/train/good/* accepted): the images are clustered, K chosen by the silhouette or given' },
    { name: 'class-names', value: 'a,b', help: 'with --feature-maps: the class names (default "0".."K-1")' },
    { name: 'out', value: 'M.safetensors', help: 'where to write the model (written only when training succeeds; required but with --dry-run)' },
    { name: 'classes', value: 'a,b', help: 'class folders to train on (default: every folder of DIR)' },
    { name: 'backbone', value: 'F.onnx', help: 'frozen feature extractor (default: the shipped demo backbone, see docs/images.md)' },
    { name: 'levels', value: 'o1,o2', help: 'backbone outputs used as feature levels (default: all outputs)' },
    { name: 'pyramid', help: "run one output (--levels o) on the image at scales 1, 1/2, 1/4: the reference's pyramid extractor" },
    { name: 'image-size', value: 'S', help: 'shorter image side after resizing (default 256)' },
    { name: 'crop', value: 'S', help: 'side of the centre crop (default: the image size)' },
    { name: 'mean', value: 'r,g,b', help: 'normalisation mean of the [0, 1] RGB values (default ImageNet 0.485,0.456,0.406)' },
    { name: 'std', value: 'r,g,b', help: 'normalisation standard deviation (default ImageNet 0.229,0.224,0.225)' },
    { name: 'meta-epochs', value: 'E', help: 'meta-epochs of the reference loop (default 25)' },
    { name: 'sub-epochs', value: 'S', help: 'passes over the data per meta-epoch (default 8)' },
    { name: 'batch-images', value: 'B', help: 'images per batch, all their positions (default 8)' },
    { name: 'lr', value: 'X', help: 'peak learning rate (default 2e-4)' },
    ...SCHEDULE_FLAGS,
    { name: 'couplings', value: 'L', help: 'coupling blocks per flow (default 12)' },
    { name: 'cond-channels', value: 'P', help: 'positional-encoding channels per level, a multiple of 4 (default 256)' },
    { name: 'intra-centres', value: 'M', help: 'intra-class centres per class (default 10)' },
    { name: 'seed', value: 'S', help: 'random seed of initialisation and image order (default 0)' },
    { name: 'cache', value: 'DIR', help: 'feature cache folder (default $XDG_CACHE_HOME/hgad/features or ~/.cache/hgad/features)' },
    { name: 'cache-float32', help: 'store the cached features as float32 (default float16: half the disk)' },
    { name: 'rebuild-cache', help: 'extract the features again even when the cache holds them (images edited in place with the same size and time)' },
    { name: 'skip-unreadable', help: 'leave out training images that cannot be decoded, and test images or masks that cannot be read (listed), instead of failing' },
    { name: 'allow-mixed', help: 'accept images of different sizes or modes within a class' },
    ...DEVICE_FLAGS,
    { name: 'quiet', help: 'no progress output' },
  ],
  notes: [
    "Features are extracted once per data set, backbone (by sha256) and preprocessing, and reused by later runs with other " +
      "training settings. The cache's key covers the images' paths, sizes and modification times, not their bytes: an image " +
      'rewritten in place with the same size and time needs --rebuild-cache. A cache whose files fail their checksums, or lack ' +
      'cache.json or a level file, is rebuilt with a warning. ' +
      'Progress goes to stderr (extraction: images/s and ETA; training: meta-epoch, loss, vectors/s, ETA); ' +
      'the summary line goes to stdout. The model records the backbone, levels and preprocessing it was trained with.',
  ],
  run: runFit,
};

function triple(args: ParsedArgs, name: string): [number, number, number] | undefined {
  const list = args.list(name);
  if (list === undefined) return undefined;
  const v = list.map(Number);
  if (v.length !== 3 || !v.every(Number.isFinite)) throw new UsageError(`--${name}: expected three numbers r,g,b, got ${list.join(',')}`, 'fit');
  return [v[0], v[1], v[2]];
}

const RENAMED: Record<string, string> = { imagesPerBatch: 'batch-images', cacheDir: 'cache', cacheDtype: 'cache-float32', rebuildCache: 'rebuild-cache', positionFraction: 'positions-per-image', calibrationImages: 'calibration-images' };

/** The flag of an option name in fitImages' errors. */
function flagOf(option: string): string {
  return RENAMED[option] ?? option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.round(s);
  return `${Math.floor(t / 60)}:${String(t % 60).padStart(2, '0')}`;
}

/** The options of the training loop and the cache, the same for images and precomputed maps. */
function trainingOptions(args: ParsedArgs) {
  return {
    metaEpochs: args.int('meta-epochs', { min: 1 }),
    subEpochs: args.int('sub-epochs', { min: 1 }),
    imagesPerBatch: args.int('batch-images', { min: 1 }),
    lr: args.number('lr', { above: 0 }),
    couplings: args.int('couplings', { min: 1 }),
    condChannels: args.int('cond-channels', { min: 0 }),
    intraCentres: args.int('intra-centres', { min: 1 }),
    seed: args.int('seed'),
    cacheDir: args.string('cache'),
    cacheDtype: args.flag('cache-float32') ? ('float32' as const) : undefined,
    rebuildCache: args.flag('rebuild-cache') || undefined,
    onWarning: (message: string) => err(`hgad: warning: ${message}\n`),
    ...scheduleOptions(args),
  };
}

/** fitImages/fitFeatureMaps argument errors name the command's flags. */
function asCliError(e: unknown): unknown {
  return e instanceof TypeError || e instanceof RangeError ? new CliError(e.message.replace(/options\.(\w+)/g, (_, k: string) => `--${flagOf(k)}`)) : e;
}

/** fit's outputs: the model and the feature cache folder (its default when --cache is not given). */
async function fitOutputs(outFile: string | undefined, cache: string | undefined): Promise<Output[]> {
  const { defaultCacheDir } = await import('../images/fit_images');
  const cacheOut: Output = { flag: '--cache', path: cache ?? defaultCacheDir(), kind: 'cache' };
  // --dry-run without --out writes only the cache
  return outFile === undefined ? [cacheOut] : [{ flag: '--out', path: outFile, kind: 'file' }, cacheOut];
}

async function runFit(args: ParsedArgs): Promise<number> {
  const outFile = args.flag('dry-run') ? args.string('out') : args.need('out');
  const featureMaps = args.list('feature-maps');
  if ((args.string('data') === undefined) === (featureMaps === undefined)) throw new UsageError('give either --data DIR or --feature-maps a.npy,... (with --labels)', 'fit');
  if (featureMaps !== undefined) return runFeatureMaps(args, outFile, featureMaps);
  const pseudoLabels = labelFreeOption(args.string('labels'));
  const options = {
    ...(pseudoLabels ? { pseudoLabels } : {}),
    kind: args.choice('kind', MODEL_KINDS, 'hgad') as ModelKind,
    data: args.need('data'),
    classes: args.list('classes'),
    backbone: args.string('backbone'),
    levels: args.list('levels'),
    pyramid: args.flag('pyramid') || undefined,
    imageSize: args.int('image-size', { min: 1 }),
    crop: args.int('crop', { min: 1 }),
    mean: triple(args, 'mean'),
    std: triple(args, 'std'),
    ...trainingOptions(args),
    skipUnreadable: args.flag('skip-unreadable'),
    allowMixed: args.flag('allow-mixed'),
    ...deviceOptions(args),
  };
  const quiet = args.flag('quiet');
  checkOutputs(await fitOutputs(outFile, options.cacheDir), [{ what: '--data', path: options.data }, await backboneInput(options.backbone)]);
  await checkDevice(options);

  const { fitImages } = await import('../images/fit_images');
  const mode = progressMode(process.stderr, quiet);
  const bar = new ProgressBar(process.stderr, mode);
  let lastExtract = 0;
  const started = Date.now();
  let result;
  try {
    result = await fitImages({
      ...options,
      onPreview: (e) => (options.dryRun ? out : quiet ? () => {} : err)(previewLine(e)),
      onProgress: (p) => {
        if (p.phase === 'train') {
          bar.update(p);
          return;
        }
        if (mode === 'off') return;
        const now = Date.now();
        const last = p.done === p.total;
        if (!last && now - lastExtract < (mode === 'tty' ? 100 : 5000)) return;
        lastExtract = now;
        const line = `extracting features ${p.done}/${p.total} images  ${p.imagesPerSecond.toFixed(1)} images/s  eta ${formatSeconds(p.etaSeconds)}`;
        process.stderr.write(mode === 'tty' ? `\r${line}\x1b[K${last ? '\n' : ''}` : `${line}\n`);
      },
    });
  } catch (e) {
    bar.finish();
    throw asCliError(e);
  } finally {
    bar.finish();
  }
  for (const s of [...(result.index.skipped ?? []), ...result.skipped]) err(`hgad: warning: skipped ${s.path}: ${s.reason}\n`);
  for (const s of result.skippedTest) err(`hgad: warning: unreadable test image (not used by fit) ${s.path}: ${s.reason}\n`);
  if (options.dryRun) return 0;
  await result.model.save(outFile!);
  const seconds = (Date.now() - started) / 1000;
  const info = result.model.info();
  const images = result.index.train.length - result.skipped.length;
  if (result.clusters) {
    const c = result.clusters;
    out(`label-free: ${c.K} cluster${c.K === 1 ? '' : 's'} (${c.chosenBy === 'given' ? 'K given' : `K chosen by the silhouette${c.silhouettes.length ? `, K = 2..${c.silhouettes.length + 1}: ${c.silhouettes.map((v) => v.toFixed(3)).join(' ')}` : ''}`}); images per cluster ${Array.from({ length: c.K }, (_, k) => c.assignment.filter((a) => a === k).length).join(' ')}\n`);
  }
  out(
    `trained ${info.classNames.length} class${info.classNames.length === 1 ? '' : 'es'} on ${images} images ` +
      `(${info.levels.length} levels, C=${info.levels.map((l) => l.channels).join('/')}) in ${seconds.toFixed(1)} s; ` +
      `features ${result.cache.reused ? 'from' : 'cached in'} ${result.cache.dir}; wrote ${outFile}\n`,
  );
  return 0;
}

/** --labels with --data: auto (K chosen) or auto:K. */
function labelFreeOption(raw: string | undefined): true | { K: number } | undefined {
  if (raw === undefined) return undefined;
  const m = /^auto(?::(\d+))?$/.exec(raw);
  if (!m) throw new UsageError(`--labels with --data takes auto or auto:K (K a positive integer), not ${raw}`, 'fit');
  if (m[1] === undefined) return true;
  const K = Number(m[1]);
  if (!(K >= 1)) throw new UsageError(`--labels auto:K needs K >= 1, not ${m[1]}`, 'fit');
  return { K };
}

async function runFeatureMaps(args: ParsedArgs, outFile: string | undefined, featureMaps: string[]): Promise<number> {
  const labelsFile = args.string('labels');
  if (labelsFile === undefined) throw new UsageError('--feature-maps needs --labels L.npy', 'fit');
  const options = {
    kind: args.choice('kind', MODEL_KINDS, 'hgad') as ModelKind,
    featureMaps,
    ...trainingOptions(args),
    ...deviceOptions(args),
  };
  const names = args.list('class-names');
  checkOutputs(await fitOutputs(outFile, args.string('cache')), [...featureMaps.map((f): Input => ({ what: '--feature-maps', path: f })), { what: '--labels', path: labelsFile }]);
  await checkDevice(options);
  const { readNpyAsync, toInt32Labels } = await import('../io/npy');
  const { labelClassNames } = await import('../hgad/labels');
  const labels = toInt32Labels(await readNpyAsync(labelsFile), labelsFile);
  // checked before anything is built from them: a huge id is an error, not a class list that long
  const classNames = labelClassNames(labels, labelsFile, names);
  const K = classNames.length;
  const { fitFeatureMaps } = await import('../images/fit_images');
  const bar = new ProgressBar(process.stderr, progressMode(process.stderr, args.flag('quiet')));
  const started = Date.now();
  let result;
  try {
    result = await fitFeatureMaps({
      ...options, labels, classNames, onProgress: (p) => bar.update(p),
      onPreview: (e) => (options.dryRun ? out : args.flag('quiet') ? () => {} : err)(previewLine(e)),
    });
  } catch (e) {
    throw asCliError(e);
  } finally {
    bar.finish();
  }
  if (options.dryRun) return 0;
  await result.model.save(outFile!);
  out(`trained ${K} class${K === 1 ? '' : 'es'} on ${labels.length} images of precomputed maps in ${((Date.now() - started) / 1000).toFixed(1)} s; wrote ${outFile}\n`);
  return 0;
}
