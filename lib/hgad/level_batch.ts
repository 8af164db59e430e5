// One level's side of an image batch: the feature rows of every position of
// the batch's images, their conditions and their class ids, on the model's
// backend. Positional conditions are never materialised per vector: the level
// keeps one (h*w, P) table on the device and a batch gathers its rows there.
//
// With position sampling (loadSampled), the batch holds n of each image's
// positions: only their rows are read from the source, and their conditions
// are gathered from the level's table by the backend's gatherRows.
//
// Memory per level: the host staging buffer (B*h*w, C) floats and the table
// (h*w, P), allocated once; the batch tensors live in the step's arena.
import { Backend, IntStorage, Storage } from '../backend/types';
import { FeatureSource, LevelShape } from '../data/feature_source';
import { expectedRange, received } from '../errors';
import { positionalConditions } from '../nn/positional_encoding';
import { Tensor } from '../tensor';

export interface BatchTensors {
  /** (n, C) with n = images * h * w, in (image, y, x) order */
  x: Tensor;
  /** (n, P), or null for an unconditional level */
  cond: Tensor | null;
  /** (n) class id of each row */
  labels: IntStorage;
  /** (n, K) label-smoothed one-hot rows */
  Y: Storage;
  rows: number;
}

export class LevelBatch {
  readonly positions: number;
  private readonly features: Float32Array;
  private readonly rowLabels: Int32Array;
  /** (h*w, P) positional table, when the encoding is ours */
  private readonly table: Storage | null = null;
  private readonly sourceCond: Float32Array | null = null;

  constructor(
    private readonly be: Backend,
    private readonly source: FeatureSource,
    private readonly level: number,
    private readonly shape: LevelShape,
    /** P of the model's level (0 = unconditional) */
    private readonly condChannels: number,
    maxImages: number,
  ) {
    const { channels: C, height, width } = shape;
    const hw = height * width;
    this.positions = hw;
    this.features = new Float32Array(maxImages * hw * C);
    this.rowLabels = new Int32Array(maxImages * hw);
    const P = condChannels;
    if (P === 0) return;
    if (shape.condChannels) {
      this.sourceCond = new Float32Array(maxImages * hw * P);
      return;
    }
    if (P % 4 !== 0) {
      throw expectedRange('a multiple of 4 (the 2-D positional encoding) or conditions from the source', `the condChannels of level ${level}`, P);
    }
    this.table = be.persistent(() => be.fromHost(positionalConditions(P, height, width), 'float32'));
  }

  /** Checks the source's level against the model's. */
  static check(shape: LevelShape, channels: number, condChannels: number, level: number): void {
    if (shape.channels !== channels) {
      throw expectedRange(`${channels} channels (the model's level ${level})`, `source.levels[${level}].channels`, shape.channels);
    }
    const sourceP = shape.condChannels ?? 0;
    if (sourceP !== 0 && sourceP !== condChannels) {
      throw expectedRange(`${condChannels} (the model's condChannels of level ${level})`, `source.levels[${level}].condChannels`, received(`${sourceP}`));
    }
  }

  /** Reads the images `ids` and builds the batch's tensors (in the caller's arena). */
  load(ids: Int32Array, labels: Int32Array, K: number, smoothing: number): BatchTensors {
    const { be, positions: hw } = this;
    const { channels: C } = this.shape;
    const P = this.condChannels;
    const n = ids.length * hw;
    const host = this.features.subarray(0, n * C);
    this.source.read(this.level, ids, host);
    // The CPU computes from the staging buffer itself; a device gets a copy.
    const x = new Tensor(be.device === 'cpu' ? host : be.fromHost(host, 'float32'), [n, C]);
    let cond: Tensor | null = null;
    if (P > 0 && this.sourceCond) {
      const c = this.sourceCond.subarray(0, n * P);
      this.source.readConditions!(this.level, ids, c);
      cond = new Tensor(be.device === 'cpu' ? c : be.fromHost(c, 'float32'), [n, P]);
    } else if (P > 0) {
      cond = Tensor.empty([n, P], 'float32', be);
      be.repeatRows(ids.length, hw, P, this.table!, cond.storage);
    }
    const rows = this.rowLabels.subarray(0, n);
    for (let j = 0; j < ids.length; ++j) rows.fill(labels[ids[j]], j * hw, (j + 1) * hw);
    const lab = be.intFromHost(rows);
    const Y = be.alloc(n * K, 'float32');
    be.oneHot(n, K, lab, smoothing, Y);
    return { x, cond, labels: lab, Y, rows: n };
  }

  /**
   * As load, but only the positions `positions` of each image (ids.length * n,
   * image after image, each in [0, h*w)): rows in (image, sampled position) order.
   */
  loadSampled(ids: Int32Array, positions: Int32Array, n: number, labels: Int32Array, K: number, smoothing: number): BatchTensors {
    const { be, positions: hw } = this;
    const { channels: C } = this.shape;
    const P = this.condChannels;
    const rows = ids.length * n;
    const host = this.features.subarray(0, rows * C);
    if (this.source.readRows) {
      this.source.readRows(this.level, ids, positions, n, host);
    } else {
      // whole images, then the sampled rows moved forward in place (positions are sorted per image)
      this.source.read(this.level, ids, this.features.subarray(0, ids.length * hw * C));
      for (let k = 0; k < rows; ++k) {
        const from = (Math.floor(k / n) * hw + positions[k]) * C;
        this.features.copyWithin(k * C, from, from + C);
      }
    }
    const x = new Tensor(be.device === 'cpu' ? host : be.fromHost(host, 'float32'), [rows, C]);
    let cond: Tensor | null = null;
    if (P > 0 && this.sourceCond) {
      const c = this.sourceCond.subarray(0, rows * P);
      if (!this.source.readConditionRows) throw expectedRange('a source with readConditionRows (position sampling of its own conditions)', 'source', received('none'));
      this.source.readConditionRows(this.level, ids, positions, n, c);
      cond = new Tensor(be.device === 'cpu' ? c : be.fromHost(c, 'float32'), [rows, P]);
    } else if (P > 0) {
      cond = Tensor.empty([rows, P], 'float32', be);
      be.gatherRows(rows, P, this.table!, be.intFromHost(positions), cond.storage);
    }
    const rowLabels = this.rowLabels.subarray(0, rows);
    for (let j = 0; j < ids.length; ++j) rowLabels.fill(labels[ids[j]], j * n, (j + 1) * n);
    const lab = be.intFromHost(rowLabels);
    const Y = be.alloc(rows * K, 'float32');
    be.oneHot(rows, K, lab, smoothing, Y);
    return { x, cond, labels: lab, Y, rows };
  }

  release(): void {
    this.be.release(this.table);
  }
}
