// Model files: safetensors with every tensor in float32 and, in __metadata__,
// "hgad" = the JSON of {format, version, config}. Reading validates the
// header, every expected tensor's dtype and shape, and finiteness; anything
// else is a FormatError naming the file and the problem.
import { FormatError } from '../errors';
import { SafeTensor, SafetensorsFile, parseSafetensors, encodeSafetensors, readSafetensors, readSafetensorsAsync } from '../io/safetensors';
import { writeFileAtomic, writeFileAtomicAsync } from '../io/atomic';
import { CouplingBlock, BLOCK_PARAM_NAMES } from '../nn/coupling_block';
import { Flow } from '../nn/flow';
import { headKind } from '../nn/heads';
import { Tensor } from '../tensor';
import { ModelConfig, validateModelConfig } from './config';
import { Calibration, HgadModel } from './model';
import type { PositionCalibration } from './types';

const FORMAT = 'hgad';
const VERSION = 1;
// A model's header lists its tensors (about 100 bytes each) and its class
// names; 16 MB holds the largest configuration validateModelConfig allows
// while keeping a hostile header (millions of junk entries) cheap to refuse.
const MODEL_HEADER_CAP = 16_000_000;

type TensorMap = Record<string, { shape: number[]; data: Float32Array }>;

/** Every tensor of the model by name, float32. */
export function modelTensors(model: HgadModel): TensorMap {
  const out: TensorMap = {};
  const put = (name: string, t: Tensor | { shape: readonly number[]; data: ArrayLike<number> }) => {
    out[name] = { shape: [...t.shape], data: Float32Array.from(t instanceof Tensor ? t.toHost() : t.data) };
  };
  const putCalibration = (prefix: string, cal: Calibration, K: number) => {
    put(`${prefix}.mean`, { shape: [K], data: cal.mean });
    put(`${prefix}.std`, { shape: [K], data: cal.std });
    if (cal.count) put(`${prefix}.count`, { shape: [K], data: cal.count });
    const pos = cal.positions;
    if (pos) {
      put(`${prefix}.positionMean`, { shape: [K, pos.height, pos.width], data: pos.mean });
      put(`${prefix}.positionStd`, { shape: [K, pos.height, pos.width], data: pos.std });
    }
  };
  model.levels.forEach((level, l) => {
    level.flow.blocks.forEach((b, i) => {
      put(`level${l}.flow.${i}.wPerm`, b.wPerm);
      for (const p of BLOCK_PARAM_NAMES) put(`level${l}.flow.${i}.${p}`, b[p]);
    });
    for (const [name, t] of Object.entries(level.head.tensors())) put(`level${l}.${name}`, t);
    if (level.calibration) {
      putCalibration(`level${l}.calibration`, level.calibration, model.classes);
      if (level.calibration.marginal) putCalibration(`level${l}.marginal`, level.calibration.marginal, 1);
    }
  });
  return out;
}

/**
 * The optional per-position normalisers of a level (K x h x w mean and std):
 * both or neither, same shape, finite means, positive stds. Files without them
 * load with the per-class normalisers alone.
 */
function positionCalibration(
  tensors: TensorMap,
  prefix: string,
  K: number,
  take: (name: string, shape: number[]) => { data: ArrayLike<number> },
  file: string,
): PositionCalibration | null {
  const meanName = `${prefix}Mean`;
  const stdName = `${prefix}Std`;
  const has = [Object.hasOwn(tensors, meanName), Object.hasOwn(tensors, stdName)];
  if (!has[0] && !has[1]) return null;
  if (!has[0] || !has[1]) throw new FormatError(file, `holds ${has[0] ? meanName : stdName} without ${has[0] ? stdName : meanName}`);
  const shape = tensors[meanName].shape;
  if (shape.length !== 3 || shape[0] !== K || !(shape[1] > 0) || !(shape[2] > 0)) {
    throw new FormatError(file, `${meanName} must have shape [${K}, h, w] but has [${shape.join(', ')}]`);
  }
  const mean = Float64Array.from(take(meanName, shape).data);
  const std = Float64Array.from(take(stdName, shape).data);
  if (mean.some((v) => !Number.isFinite(v))) throw new FormatError(file, `${meanName} must be finite`);
  if (std.some((s) => !(s > 0) || !Number.isFinite(s))) throw new FormatError(file, `${stdName} must be positive and finite`);
  return { height: shape[1], width: shape[2], mean, std };
}

/** Rebuilds a model from its config and tensors, checking every shape. */
export function modelFromTensors(config: ModelConfig, tensors: TensorMap, file = '<tensors>'): HgadModel {
  const cfg = validateModelConfig(config);
  const K = cfg.classNames.length;
  const kind = headKind(cfg.kind);
  const used = new Set<string>();
  const take = (name: string, shape: number[]): Tensor => {
    const t = Object.hasOwn(tensors, name) ? tensors[name] : undefined;
    if (!t) throw new FormatError(file, `missing tensor ${name}`);
    used.add(name);
    if (t.shape.join(',') !== shape.join(',')) {
      throw new FormatError(file, `tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    for (let i = 0; i < t.data.length; ++i) {
      if (!Number.isFinite(t.data[i])) throw new FormatError(file, `tensor ${name} holds a non-finite value at index ${i}`);
    }
    return Tensor.from(t.data, shape);
  };
  const readCalibration = (prefix: string, K: number): Calibration => {
    // Files written before per-class counts were recorded hold none: counts unknown.
    const countName = `${prefix}.count`;
    const count = Object.hasOwn(tensors, countName) ? Float64Array.from(take(countName, [K]).data) : null;
    if (count && count.some((c) => !(c >= 0) || !Number.isInteger(c))) throw new FormatError(file, `${countName} must hold non-negative integers`);
    const cal: Calibration = { mean: Float64Array.from(take(`${prefix}.mean`, [K]).data), std: Float64Array.from(take(`${prefix}.std`, [K]).data), count };
    if (cal.std.some((v) => !(v > 0))) throw new FormatError(file, `${prefix}.std must be positive`);
    cal.positions = positionCalibration(tensors, `${prefix}.position`, K, take, file);
    return cal;
  };
  const levels = cfg.levels.map((lc, l) => {
    const C = lc.channels;
    const C1 = Math.ceil(C / 2);
    const C2 = C - C1;
    const P = lc.condChannels;
    const H = cfg.hidden ?? 2 * (C1 + P);
    const blockCfg = { channels: C, condChannels: P, clamp: cfg.clamp, hidden: cfg.hidden };
    const blocks = Array.from({ length: cfg.couplings }, (_, i) => {
      const p = `level${l}.flow.${i}.`;
      return new CouplingBlock(blockCfg, {
        wPerm: take(p + 'wPerm', [C, C]),
        globalScale: take(p + 'globalScale', [C]),
        globalOffset: take(p + 'globalOffset', [C]),
        w1: take(p + 'w1', [H, C1 + P]),
        b1: take(p + 'b1', [H]),
        w2: take(p + 'w2', [2 * C2, H]),
        b2: take(p + 'b2', [2 * C2]),
      });
    });
    const M = cfg.intraCentres;
    const flow = new Flow({ channels: C, condChannels: P, couplings: cfg.couplings, clamp: cfg.clamp, hidden: cfg.hidden }, blocks);
    const shape = { channels: C, classes: K, intraCentres: M };
    const headTensors: Record<string, Tensor> = {};
    for (const [name, s] of Object.entries(kind.tensorShapes(shape))) headTensors[name] = take(`level${l}.${name}`, s);
    // Tensors of earlier versions this kind reads past.
    for (const name of kind.ignoredTensors ?? []) if (Object.hasOwn(tensors, `level${l}.${name}`)) used.add(`level${l}.${name}`);
    const head = kind.fromTensors(shape, headTensors, flow.backend);
    let calibration: Calibration | null = null;
    if (Object.hasOwn(tensors, `level${l}.calibration.mean`)) {
      calibration = readCalibration(`level${l}.calibration`, K);
      // Files written before class-free scoring hold no marginal: its rule is then unavailable.
      if (Object.hasOwn(tensors, `level${l}.marginal.mean`)) {
        const marginal = readCalibration(`level${l}.marginal`, 1);
        const [a, b] = [calibration.positions, marginal.positions];
        if (a && b && (a.height !== b.height || a.width !== b.width)) {
          throw new FormatError(file, `level${l}.marginal.positionMean must have the h x w of level${l}.calibration.positionMean`);
        }
        calibration.marginal = marginal;
      }
    } else if (Object.hasOwn(tensors, `level${l}.marginal.mean`)) {
      throw new FormatError(file, `holds level${l}.marginal without level${l}.calibration`);
    }
    return { flow, head, calibration };
  });
  // The tensor set must be exactly what the configuration describes: extra
  // blocks would otherwise be ignored silently (a file whose config says 4
  // couplings but holds 8 would score differently from what it was).
  const extra = Object.keys(tensors).filter((name) => !used.has(name));
  if (extra.length > 0) {
    const shown = extra.slice(0, 3).join(', ') + (extra.length > 3 ? ', ...' : '');
    throw new FormatError(
      file,
      `holds ${extra.length} tensor${extra.length === 1 ? '' : 's'} its configuration (${cfg.levels.length} level${cfg.levels.length === 1 ? '' : 's'}, ${cfg.couplings} couplings) does not use: ${shown}`,
    );
  }
  return new HgadModel(cfg, levels);
}

export function encodeModel(model: HgadModel): Buffer {
  const tensors: Record<string, SafeTensor> = {};
  for (const [name, t] of Object.entries(modelTensors(model))) tensors[name] = { dtype: 'F32', shape: t.shape, data: t.data };
  return encodeSafetensors(tensors, { [FORMAT]: JSON.stringify({ format: FORMAT, version: VERSION, config: model.config }) });
}

function fromFile({ tensors, metadata }: SafetensorsFile, file: string): HgadModel {
  const raw = metadata[FORMAT];
  if (raw === undefined) throw new FormatError(file, 'not an hgad model (no "hgad" entry in the safetensors metadata)');
  let header: unknown;
  try {
    header = JSON.parse(raw);
  } catch {
    throw new FormatError(file, 'the "hgad" metadata entry is not valid JSON');
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new FormatError(file, `the "hgad" metadata entry is not a JSON object (found ${header === null ? 'null' : Array.isArray(header) ? 'an array' : typeof header})`);
  }
  const { format, version, config: rawConfig } = header as { format?: unknown; version?: unknown; config?: unknown };
  if (format !== FORMAT) throw new FormatError(file, 'the "hgad" metadata entry has no format "hgad"');
  if (version !== VERSION) throw new FormatError(file, `unsupported model version ${String(version)} (this hgad reads version ${VERSION})`);
  let config: ModelConfig;
  try {
    config = validateModelConfig(rawConfig);
  } catch (e) {
    throw new FormatError(file, `invalid model configuration: ${(e as Error).message}`);
  }
  const map: TensorMap = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'F32') throw new FormatError(file, `tensor ${name} has dtype ${t.dtype}, expected F32`);
    Object.defineProperty(map, name, { value: { shape: t.shape, data: t.data as Float32Array }, enumerable: true });
  }
  return modelFromTensors(config, map, file);
}

export function decodeModel(buf: Buffer, file = '<buffer>'): HgadModel {
  return fromFile(parseSafetensors(buf, file, { maxHeaderBytes: MODEL_HEADER_CAP }), file);
}

export function saveModel(model: HgadModel, file: string): void {
  writeFileAtomic(file, encodeModel(model));
}

export async function saveModelAsync(model: HgadModel, file: string): Promise<void> {
  await writeFileAtomicAsync(file, encodeModel(model));
}

/** Reads a model file header first (a device, FIFO or directory is an error naming it). */
export function loadModel(file: string): HgadModel {
  return fromFile(readSafetensors(file, { maxHeaderBytes: MODEL_HEADER_CAP }), file);
}

export async function loadModelAsync(file: string): Promise<HgadModel> {
  return fromFile(await readSafetensorsAsync(file, { maxHeaderBytes: MODEL_HEADER_CAP }), file);
}
