// hgad predict: anomaly score and map of single images with an image-trained
// model; one JSON line per image on stdout, maps as .npy + .png with --out.
import { MAP_KINDS } from '../hgad/map_kind';
import { Command } from './command';
import { DEVICE_FLAGS, IMAGE_MODEL_FLAG, IMAGE_SCORING_FLAGS, RULE_FLAG } from './model_file';

export const predict: Command = {
  name: 'predict',
  summary: 'anomaly score and map of images with an image-trained model (one JSON line per image)',
  usage: [
    'hgad predict --model M.safetensors [--class NAME | --rule RULE] [--out DIR] [options] IMAGE...',
    'hgad predict --model M.safetensors [--class NAME | --rule RULE] --manifest LIST.txt [--jsonl OUT.jsonl [--resume]] [--out DIR] [options]',
  ],
  positional: 'IMAGE...',
  flags: [
    IMAGE_MODEL_FLAG,
    { name: 'class', value: 'NAME', help: 'the class the images are of: a class name of the model (names first), "#N" for the class id N, or a plain id when no class bears that name; without it each image is scored class-free' },
    RULE_FLAG,
    { name: 'out', value: 'DIR', help: 'write each map as DIR/<stem>.npy (float32) and DIR/<stem>.png (heat map over the image), batch by batch; DIR must be new or empty (with --resume it may hold the maps of the earlier run)' },
    { name: 'manifest', value: 'LIST.txt', help: 'score the images listed in LIST.txt (one path a line, read as it goes; blank lines and # comments ignored; relative paths are relative to its folder) instead of IMAGE...' },
    { name: 'jsonl', value: 'OUT.jsonl', help: 'append the lines to OUT.jsonl, each batch flushed to disk (fsync), with each image\'s size and mtime; an existing OUT.jsonl is refused without --resume' },
    { name: 'resume', help: 'with --jsonl: continue OUT.jsonl, skipping the images it holds (same path, size and mtime); a torn last line left by a kill is dropped' },
    { name: 'score', value: 'KIND', help: `${MAP_KINDS.join(', ')}: calibrated (default, per class and position) and class-calibrated are the same for an image alone or in any batch; fused and logp are relative to the images given` },
    ...IMAGE_SCORING_FLAGS,
    ...DEVICE_FLAGS,
  ],
  notes: [
    'Each line: {"image": PATH, "class": NAME, "score": S, "map": NPY or null, "png": PNG or null}; with --jsonl also "size" and "mtime" (ms).',
    'Lines come out batch by batch (8 images) as they are scored; --score fused and logp wait for every image and refuse --manifest and --jsonl.',
    'Class-free, "class" is the inferred class, with "posterior" (its probability), "rule" (the class-free rule) and, for a label-free model, "cluster" (the nearest centroid).',
  ],
  run: async (args) => (await import('./predict_run')).runPredict(args),
};
