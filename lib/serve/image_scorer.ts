// One image-trained model and its backbone, open for the lifetime of a
// service or a queue worker, scoring images as they arrive: each image is
// decoded on its own (a bad one fails alone), then images of one class are
// micro-batched (one backbone run in its thread, one scoring pass in the
// model's worker thread, so the event loop stays free). Only batch-independent map kinds
// are served, so an answer equals the image scored alone.
import sharp from 'sharp';
import { expectedRange, expectedType, FormatError } from '../errors';
import type { DeviceOptions, HGAD } from '../hgad';
import type { Calibration } from '../hgad/types';
import { loadImage, Preprocessing } from '../images/preprocess';
import { isCalibratedKind, MapKind } from '../hgad/map_kind';
import { openModelBackbone, resolveClassId, scorePixelBatch } from '../localise/score_images';
import { mapCalibration } from '../hgad/score_maps';
import { classFreeMapCalibration } from '../hgad/class_free_maps';
import { checkClassFreeRule } from '../hgad/class_free';
import type { ClassFreeRule } from '../hgad/types';
import { lookupClass, shownClasses } from '../hgad/class_lookup';
import { BackboneThread } from './backbone_thread';
import { BatcherOptions, MicroBatcher } from './batcher';

export interface ImageScorerOptions extends BatcherOptions {
  /** the model file (from hgad fit) */
  model: string;
  /** the ONNX backbone the model was trained with (default the shipped demo backbone) */
  backbone?: string;
  /** calibrated (default) or class-calibrated: the batch-independent kinds */
  kind?: MapKind;
  /** Gaussian smoothing of the maps (default 4) */
  sigma?: number;
  /** image score = mean of the topK highest pixels (default 1) */
  topK?: number;
  /** the most pixels (width x height) an image may have before it is decoded (default 40 million) */
  maxPixels?: number;
  device?: DeviceOptions;
}

export interface ImageResult {
  /** the class given, or (class-free) the class inferred */
  classId: number;
  className: string;
  /** class-free only: the inferred class's posterior probability and the rule that scored it */
  posterior?: number;
  rule?: ClassFreeRule;
  score: number;
  /** (height, width) anomaly map */
  map: Float32Array;
  height: number;
  width: number;
}

/** The batch key of images scored without a class (their class inferred by the model's default class-free rule). */
const CLASS_FREE = -1;

export class ImageScorer {
  private readonly batcher: MicroBatcher<number, Float32Array, ImageResult>;
  private closed = false;

  private constructor(
    readonly model: HGAD,
    readonly modelFile: string,
    private readonly backbone: BackboneThread,
    readonly preprocessing: Preprocessing,
    private readonly calibrations: (Calibration | null)[],
    readonly kind: MapKind,
    private readonly sigma: number,
    private readonly topK: number,
    readonly maxPixels: number,
    /** the rule of images sent without a class: the model's default (lib/hgad/class_free.ts) */
    private readonly classFreeRule: ClassFreeRule,
    options: BatcherOptions,
  ) {
    this.batcher = new MicroBatcher((classId, items) => this.runBatch(classId, items), options);
  }

  /** Loads the model and its backbone; errors name the file. */
  static async open(options: ImageScorerOptions): Promise<ImageScorer> {
    if (options === null || typeof options !== 'object') throw expectedType('an options object {model, ...}', 'options', options);
    if (typeof options.model !== 'string' || options.model === '') throw expectedType('a model file path', 'model', options.model);
    const kind = options.kind ?? 'calibrated';
    if (!isCalibratedKind(kind)) throw expectedRange('calibrated or class-calibrated (the batch-independent kinds)', 'kind', kind);
    const maxPixels = options.maxPixels ?? 40_000_000;
    if (!Number.isInteger(maxPixels) || maxPixels < 1) throw expectedRange('a positive integer', 'maxPixels', maxPixels);
    const { HGAD } = await import('../hgad');
    const model = await HGAD.load(options.model, options.device);
    try {
      const calibrations = model.core.levels.map((l) => l.calibration);
      if (calibrations.some((c) => !c)) throw new FormatError(options.model, 'the model holds no calibration; the service scores calibrated maps only');
      // Checked against the model here, then run in a thread of its own (see backbone_thread.ts).
      const { backbone: checked, preprocessing } = await openModelBackbone(model, options.backbone, options.model);
      await checked.close();
      const backbone = await BackboneThread.open(checked.file, { levels: checked.outputs, pyramid: checked.pyramid, device: checked.device });
      return new ImageScorer(model, options.model, backbone, preprocessing, calibrations, kind, options.sigma ?? 4, options.topK ?? 1, maxPixels, checkClassFreeRule(undefined, model.core), options);
    } catch (e) {
      model.close();
      throw e;
    }
  }

  get pending(): number {
    return this.batcher.pending;
  }

  get depth(): number {
    return this.batcher.depth;
  }

  get room(): number {
    return this.batcher.room;
  }

  get maxBatch(): number {
    return this.batcher.maxBatch;
  }

  /**
   * The class id of a class name ("#N" or a plain number when no class bears
   * that name: lib/hgad/class_lookup.ts) or id; `undefined` (no class given)
   * is CLASS_FREE: the image is scored class-free (its class inferred).
   */
  classOf(cls: string | number | undefined, what = 'the request'): number {
    if (cls === undefined) return CLASS_FREE;
    if (typeof cls === 'number') return resolveClassId(this.model, cls);
    const found = lookupClass(this.model.config.classNames, cls);
    if (found.id === undefined) throw expectedRange(`a class of the model (${shownClasses(this.model.config.classNames)})`, what, cls);
    return found.id;
  }

  /** Decodes and preprocesses one image (bytes, or a file path for the queue worker); a FormatError naming it when it cannot. */
  async decode(input: Buffer | string, name: string): Promise<Float32Array> {
    let width: number | undefined;
    let height: number | undefined;
    try {
      ({ width, height } = await sharp(input).metadata());
    } catch (err) {
      throw new FormatError(name, `cannot read the image (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
    }
    if (!width || !height) throw new FormatError(name, 'cannot read the image (no size in its header)');
    if (width * height > this.maxPixels) throw new FormatError(name, `the image is ${width}x${height}, more than the ${this.maxPixels} pixels allowed`);
    return loadImage(input, this.preprocessing, undefined, name);
  }

  /**
   * Scores one image of class `cls`: decoded by `decode` (counted against the
   * queue bound from the start), then batched with others of its class.
   * Throws QueueFullError at once when the queue is full.
   */
  score(cls: string | number | undefined, input: Buffer | string, name: string, signal?: AbortSignal): Promise<ImageResult> {
    if (this.closed) return Promise.reject(new Error('the scorer is closed'));
    const classId = this.classOf(cls);
    return this.batcher.submit(classId, () => this.decode(input, name), signal);
  }

  private async runBatch(classId: number, items: Float32Array[]): Promise<ImageResult[]> {
    const S = this.preprocessing.crop;
    const B = items.length;
    const pixels = new Float32Array(B * 3 * S * S);
    items.forEach((x, b) => pixels.set(x, b * 3 * S * S));
    const free = classId === CLASS_FREE;
    const positions = await scorePixelBatch(this.model, this.backbone, pixels, B, S, free ? undefined : classId, free ? this.classFreeRule : undefined);
    const cf = positions.classFree;
    const calibration = cf ? classFreeMapCalibration(this.calibrations, cf, this.kind, positions.logp) : mapCalibration(this.calibrations, classId, this.kind);
    const { maps, scores } = await this.model.imageMaps(positions, calibration, { height: S, width: S, kind: this.kind, sigma: this.sigma, topK: this.topK });
    const names = this.model.config.classNames;
    return items.map((_, b) => {
      const id = cf ? cf.classes[b] : classId;
      const inferred = cf ? { posterior: cf.posterior[b], rule: cf.rule } : {};
      return { classId: id, className: names[id], ...inferred, score: scores[b], map: maps.slice(b * S * S, (b + 1) * S * S), height: S, width: S };
    });
  }

  /** Waits for every admitted image, then releases the backbone and the model's worker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.batcher.drain();
    await this.backbone.close();
    this.model.close();
  }
}
