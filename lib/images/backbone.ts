// The frozen feature extractor: any ONNX model run by onnxruntime-node. Its
// input is a batch of preprocessed images (B, 3, S, S); the outputs chosen as
// levels are feature maps (B, C, h, w). In pyramid mode (the reference's other
// extractor) one output is taken from the image at scales 1, 1/2 and 1/4,
// which gives three levels.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { expectedRange, expectedType, FormatError } from '../errors';
import type { FeatureMap } from '../hgad/score_maps';
import type { ExtractorRecord, FeatureExtractor } from './feature_extractor';

/** The scales of pyramid mode, as the reference runs its extractor. */
export const PYRAMID_SCALES = [1, 0.5, 0.25];

export interface BackboneOptions {
  /** output names used as levels, in order (default: every output) */
  levels?: readonly string[];
  /** run the single output (levels[0], or the only output) at scales 1, 1/2, 1/4 */
  pyramid?: boolean;
  /** 'cpu' (default), 'cuda' (an Error when onnxruntime's CUDA provider is absent), 'auto' */
  device?: 'cpu' | 'cuda' | 'auto';
}

/** What a model file records of the backbone its features came from: sha256 of the ONNX file, its base name, the outputs taken as levels, pyramid. */
export type BackboneRecord = ExtractorRecord;

/** The shipped demonstration backbone (see scripts/backbone/README.md): the default. */
export function demoBackbonePath(): string {
  return path.join(__dirname, '..', '..', '..', 'scripts', 'backbone', 'demo_backbone.onnx');
}

export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function firstLine(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0] : String(err);
}

async function createSession(file: string, device: 'cpu' | 'cuda' | 'auto'): Promise<{ session: InferenceSession; device: 'cpu' | 'cuda' }> {
  const ort = await import('onnxruntime-node');
  if (device !== 'cpu') {
    // The CUDA provider's files are not part of the npm package; use it only when they are there.
    try {
      return { session: await ort.InferenceSession.create(file, { executionProviders: ['cuda'] }), device: 'cuda' };
    } catch (err) {
      if (device === 'cuda') throw new Error(`${file}: onnxruntime's CUDA execution provider is not usable here (${firstLine(err)}); use --device cpu or auto`);
    }
  }
  try {
    return { session: await ort.InferenceSession.create(file, { executionProviders: ['cpu'] }), device: 'cpu' };
  } catch (err) {
    throw new FormatError(file, `not a loadable ONNX model (${firstLine(err)})`);
  }
}

/**
 * What the pyramid's resize is, part of the feature cache key (lib/images/extract.ts):
 * caches extracted with another resize are never reused.
 */
export const PYRAMID_RESIZE = 'bilinear-align-corners-floor';

/** The side of the pyramid level at `scale` of an S x S image: floor(S * scale), as F.interpolate(scale_factor) sizes it. */
export function pyramidSize(S: number, scale: number): number {
  return Math.max(1, Math.floor(S * scale));
}

/**
 * Bilinear resize of one (3, S, S) image to (3, s, s) with align_corners = true,
 * as the reference's Encoder.forward runs F.interpolate(..., mode='bilinear',
 * align_corners=True): output pixel y samples input row y (S - 1) / (s - 1), so
 * the corner pixels map onto each other (s = 1: the top-left pixel).
 */
export function resizeBilinear(x: Float32Array, S: number, s: number, out: Float32Array = new Float32Array(3 * s * s)): Float32Array {
  const scale = s > 1 ? (S - 1) / (s - 1) : 0;
  for (let y = 0; y < s; ++y) {
    const sy = y * scale;
    const y0 = Math.min(Math.floor(sy), S - 1);
    const y1 = Math.min(y0 + 1, S - 1);
    const fy = sy - y0;
    for (let xx = 0; xx < s; ++xx) {
      const sx = xx * scale;
      const x0 = Math.min(Math.floor(sx), S - 1);
      const x1 = Math.min(x0 + 1, S - 1);
      const fx = sx - x0;
      for (let c = 0; c < 3; ++c) {
        const p = x.subarray(c * S * S);
        const top = p[y0 * S + x0] * (1 - fx) + p[y0 * S + x1] * fx;
        const bottom = p[y1 * S + x0] * (1 - fx) + p[y1 * S + x1] * fx;
        out[(c * s + y) * s + xx] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}

/** The ONNX feature extractor. */
export class Backbone implements FeatureExtractor {
  private constructor(
    private readonly session: InferenceSession,
    readonly file: string,
    readonly sha256: string,
    readonly outputs: string[],
    readonly pyramid: boolean,
    readonly device: 'cpu' | 'cuda',
  ) {}

  /** Opens an ONNX model; a corrupt file, an output that is not 4-D or an unknown level name is a clear error. */
  static async open(file: string, options: BackboneOptions = {}): Promise<Backbone> {
    if (typeof file !== 'string' || file === '') throw expectedType('an ONNX file path', 'backbone', file);
    if (!fs.existsSync(file)) throw new FormatError(file, 'no such file (expected an ONNX model)');
    const { session, device } = await createSession(file, options.device ?? 'cpu');
    if (session.inputNames.length !== 1) {
      throw new FormatError(file, `expected one input (a batch of images, N x 3 x H x W) but the model has ${session.inputNames.length}: ${session.inputNames.join(', ')}`);
    }
    const all = [...session.outputNames];
    const pyramid = options.pyramid === true;
    let outputs: string[];
    if (options.levels !== undefined) {
      if (!Array.isArray(options.levels) || options.levels.length === 0) throw expectedType('a non-empty array of output names', 'levels', options.levels);
      options.levels.forEach((name, i) => {
        if (!all.includes(name)) throw expectedRange(`an output of ${file} (${all.join(', ')})`, `levels[${i}]`, name);
      });
      outputs = [...options.levels];
    } else outputs = pyramid ? all.slice(0, 1) : all;
    if (pyramid && outputs.length !== 1) throw expectedRange('one output name in pyramid mode', 'levels', outputs.join(', '));
    const meta = (session as unknown as { outputMetadata?: { name: string; shape?: unknown[]; type?: string }[] }).outputMetadata;
    for (const name of outputs) {
      const m = meta?.find((o) => o.name === name);
      if (m?.shape && m.shape.length !== 4) throw new FormatError(file, `output "${name}" has ${m.shape.length} dimensions; feature levels must be 4-D (N, C, H, W)`);
    }
    return new Backbone(session, file, await sha256File(file), outputs, pyramid, device);
  }

  get levelNames(): string[] {
    return this.pyramid ? PYRAMID_SCALES.map((s) => `${this.outputs[0]}@${s}`) : [...this.outputs];
  }

  get record(): BackboneRecord {
    return { sha256: this.sha256, file: path.basename(this.file), outputs: [...this.outputs], pyramid: this.pyramid };
  }

  /**
   * Runs a batch. images: (B, 3, S, S) float32.
   * -> one FeatureMap (B, C, h, w) per level
   */
  async run(images: Float32Array, B: number, S: number): Promise<FeatureMap[]> {
    if (images.length !== B * 3 * S * S) throw expectedRange(`${B * 3 * S * S} values (${B} x 3 x ${S} x ${S})`, 'images', images.length);
    if (!this.pyramid) return this.runOnce(images, B, S, this.outputs);
    const levels: FeatureMap[] = [];
    for (const scale of PYRAMID_SCALES) {
      const s = pyramidSize(S, scale);
      let x: Float32Array = images;
      if (s !== S) {
        x = new Float32Array(B * 3 * s * s);
        for (let b = 0; b < B; ++b) resizeBilinear(images.subarray(b * 3 * S * S, (b + 1) * 3 * S * S), S, s, x.subarray(b * 3 * s * s, (b + 1) * 3 * s * s));
      }
      levels.push(...(await this.runOnce(x, B, s, this.outputs)));
    }
    return levels;
  }

  private async runOnce(images: Float32Array, B: number, S: number, names: string[]): Promise<FeatureMap[]> {
    const ort = await import('onnxruntime-node');
    let result: Record<string, Tensor>;
    try {
      const input = new ort.Tensor('float32', images, [B, 3, S, S]);
      result = await this.session.run({ [this.session.inputNames[0]]: input }, names);
    } catch (err) {
      throw new FormatError(this.file, `the model failed on a batch of ${B} images of 3x${S}x${S} (${firstLine(err)})`);
    }
    return names.map((name) => {
      const t = result[name];
      if (t.dims.length !== 4) throw new FormatError(this.file, `output "${name}" has shape [${t.dims.join(', ')}]; feature levels must be 4-D (N, C, H, W)`);
      if (t.type !== 'float32') throw new FormatError(this.file, `output "${name}" is ${t.type}; feature levels must be float32`);
      if (Number(t.dims[0]) !== B) throw new FormatError(this.file, `output "${name}" has batch ${t.dims[0]} for ${B} images`);
      return { channels: Number(t.dims[1]), height: Number(t.dims[2]), width: Number(t.dims[3]), data: t.data as Float32Array };
    });
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
