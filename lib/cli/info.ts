// hgad info and hgad devices: summaries of a model file and of this build.
import { ParsedArgs } from './args';
import { Command, jsonFlag, out } from './command';
import { loadModel, MODEL_FLAG } from './model_file';
import type { ModelInfo } from '../hgad';

export const info: Command = {
  name: 'info',
  summary: 'summary of a model file: classes, levels, flow size, calibration',
  usage: ['hgad info --model M.safetensors [--json]'],
  flags: [
    MODEL_FLAG,
    jsonFlag('the summary'),
  ],
  run: async (args: ParsedArgs) => {
    const file = args.need('model');
    const model = await loadModel(file);
    const i = model.info();
    const features = model.config.features;
    if (args.flag('json')) {
      out(JSON.stringify({ file, ...i, ...(features ? { features } : {}) }, null, 2) + '\n');
      return 0;
    }
    const K = i.classNames.length;
    const rows: [string, string][] = [
      ['classes', `${K}: ${i.classNames.slice(0, 20).join(', ')}${K > 20 ? ', ...' : ''}`],
      ['levels', `${i.levels.length}: ${i.levels.map((l) => `C=${l.channels}${l.condChannels > 0 ? ` P=${l.condChannels}` : ''}`).join('; ')}`],
      ['couplings', String(i.couplings)],
      ['clamp', String(i.clamp)],
      ['intra centres', String(i.intraCentres)],
      ['parameters', i.parameters.toLocaleString('en-US')],
      ['calibrated', calibratedText(i)],
    ];
    if (features) {
      const p = features.preprocessing;
      rows.push(['backbone', `${features.backbone.file} (sha256 ${features.backbone.sha256.slice(0, 12)}…), levels ${features.levels.join(', ')}`]);
      rows.push(['images', `resized to ${p.imageSize}, cropped to ${p.crop}, mean ${p.mean.join('/')}, std ${p.std.join('/')}`]);
    }
    out(`${file}\n${rows.map(([k, v]) => `  ${k.padEnd(14)}${v}`).join('\n')}\n`);
    return 0;
  },
};

function calibratedText(i: ModelInfo): string {
  if (!i.calibrated) return 'no';
  const u = i.uncalibratedClasses;
  if (u.length === 0) return 'yes';
  const shown = u.slice(0, 10).map((name) => `${name} (${i.trainingCounts![i.classNames.indexOf(name)]})`);
  return `yes, except ${u.length} class${u.length === 1 ? '' : 'es'} with fewer than 2 training vectors: ${shown.join(', ')}${u.length > 10 ? ', ...' : ''}`;
}

export const devicesCommand: Command = {
  name: 'devices',
  summary: 'CUDA support compiled into this build and the CUDA devices found',
  usage: ['hgad devices [--json]'],
  flags: [jsonFlag('{cudaCompiled, cudaArchs, devices, reason, cpu}')],
  run: async (args: ParsedArgs) => {
    const { devices } = await import('../backend/devices');
    const d = devices();
    if (args.flag('json')) {
      out(JSON.stringify(d, null, 2) + '\n');
      return 0;
    }
    const lines = [
      `CUDA compiled   ${d.cudaCompiled ? `yes (archs ${d.cudaArchs.join(', ') || 'unknown'})` : 'no'}`,
      `CPU             ${d.cpu.threads} threads, gemm kernel ${d.cpu.gemmKernel} (supported: ${d.cpu.gemmKernels.join(', ')})`,
    ];
    if (d.devices.length === 0) lines.push(`CUDA devices    none${d.reason ? ` (${d.reason})` : ''}`);
    for (const dev of d.devices) {
      lines.push(
        `CUDA device ${dev.index}   ${dev.name}, compute ${dev.computeCapability}, ${dev.multiprocessors} SMs, ` +
          `${(dev.totalMemory / 2 ** 30).toFixed(1)} GiB`,
      );
    }
    out(lines.join('\n') + '\n');
    return 0;
  },
};
