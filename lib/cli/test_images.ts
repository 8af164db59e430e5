// hgad test: an image-trained model on the test split of a data set in the
// MVTec AD layout: per-class and mean image AUROC, pixel AUROC, AUPRO and
// F1-max as JSON, optionally an HTML report and every map as .npy + .png.
import { MAP_KINDS } from '../hgad/map_kind';
import { Command } from './command';
import { DEVICE_FLAGS, IMAGE_MODEL_FLAG, IMAGE_SCORING_FLAGS, RULE_FLAG } from './model_file';

export const testImages: Command = {
  name: 'test',
  summary: 'localisation metrics of an image-trained model on a test set (MVTec AD layout)',
  usage: ['hgad test --model M.safetensors --data DIR --json metrics.json [--report report.html] [--maps DIR] [--class-free [--rule RULE]] [options]'],
  flags: [
    IMAGE_MODEL_FLAG,
    { name: 'data', value: 'DIR', required: true, help: 'ROOT of a data set in the MVTec AD layout; its test/ folders are scored' },
    { name: 'json', value: 'F', required: true, help: 'where to write the metrics, per class and their mean' },
    { name: 'report', value: 'F.html', help: 'also write a one-file HTML report (metric table, ROC and PRO curves, heat maps)' },
    { name: 'maps', value: 'DIR', help: 'also write every map as DIR/<class>/<defect type>/<stem>.npy (float32) and .png' },
    { name: 'classes', value: 'a,b', help: 'test only these classes (default: every class folder of DIR)' },
    { name: 'score', value: 'KIND', help: `the map and image score: ${MAP_KINDS.join(', ')} (default calibrated: batch-independent, per class and position; class-calibrated: per class only; fused: the reference's logp x entropy maps, relative to each class's test set)` },
    { name: 'class-free', help: "score every image without its class (by --rule): the data set's classes need not be the model's; the JSON adds how often the inferred class was the folder's" },
    RULE_FLAG,
    ...IMAGE_SCORING_FLAGS,
    { name: 'batch-size', value: 'B', help: 'images per backbone run (default 8)' },
    { name: 'skip-unreadable', help: 'leave out test images whose image or mask cannot be read (listed) instead of failing' },
    ...DEVICE_FLAGS,
  ],
  run: async (args) => (await import('./test_images_run')).runTest(args),
};
