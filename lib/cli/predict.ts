// hgad predict: anomaly score and map of single images with an image-trained
// model; one JSON line per image on stdout, maps as .npy + .png with --out.
import { MAP_KINDS } from '../localise/map_kind';
import { Command } from './command';
import { DEVICE_FLAGS, IMAGE_MODEL_FLAG, IMAGE_SCORING_FLAGS, RULE_FLAG } from './model_file';

export const predict: Command = {
  name: 'predict',
  summary: 'anomaly score and map of images with an image-trained model (one JSON line per image)',
  usage: ['hgad predict --model M.safetensors [--class NAME | --rule RULE] [--out DIR] [options] IMAGE...'],
  positional: 'IMAGE...',
  flags: [
    IMAGE_MODEL_FLAG,
    { name: 'class', value: 'NAME', help: 'the class the images are of (a class name of the model, or its id); without it each image is scored class-free' },
    RULE_FLAG,
    { name: 'out', value: 'DIR', help: 'write each map as DIR/<stem>.npy (float32) and DIR/<stem>.png (heat map over the image); DIR must be new or empty' },
    { name: 'score', value: 'KIND', help: `${MAP_KINDS.join(', ')}: calibrated (default, per class and position) and class-calibrated are the same for an image alone or in any batch; fused and logp are relative to the images given` },
    ...IMAGE_SCORING_FLAGS,
    ...DEVICE_FLAGS,
  ],
  notes: [
    'Each line: {"image": PATH, "class": NAME, "score": S, "map": NPY or null, "png": PNG or null}.',
    'Class-free, "class" is the inferred class, with "posterior" (its probability), "rule" (the class-free rule) and, for a label-free model, "cluster" (the nearest centroid).',
  ],
  run: async (args) => (await import('./predict_run')).runPredict(args),
};
