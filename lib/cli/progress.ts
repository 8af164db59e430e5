// Training progress on stderr: on a terminal one line updated in place
// ("epoch 2/6 [#####.....] 45%  loss -12.345  lr 1.0e-3  1234 vec/s  eta 0:03",
// with "level l/L" and "sub s/S" when there are several), elsewhere one line per
// epoch (the last loss of each level) and, within a long epoch, the in-place
// line's text at most once a minute, or nothing when quiet.
import type { FitProgress } from '../hgad/model';

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export type ProgressMode = 'tty' | 'lines' | 'off';

export function progressMode(stream: ProgressStream, quiet: boolean): ProgressMode {
  if (quiet) return 'off';
  return stream.isTTY ? 'tty' : 'lines';
}

function formatLoss(v: number): string {
  return Number.isFinite(v) ? v.toFixed(3) : String(v);
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  const total = Math.round(s);
  const m = Math.floor(total / 60);
  const h = Math.floor(m / 60);
  const ss = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m % 60).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function bar(fraction: number, width = 10): string {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return '#'.repeat(filled) + '.'.repeat(width - filled);
}

export class ProgressBar {
  private lastDraw = 0;
  private rate = 0;
  private drawn = false;
  private epochStarted: number;
  private readonly started: number;
  /** the last loss of each level */
  private readonly losses: number[] = [];

  constructor(
    private readonly stream: ProgressStream,
    readonly mode: ProgressMode,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = 100,
    /** 'lines' mode: the longest silence within an epoch */
    private readonly lineIntervalMs = 60_000,
  ) {
    this.started = now();
    this.epochStarted = this.started;
  }

  /** Position within the current epoch: every level of every batch of every sub-epoch. */
  private static fraction(p: FitProgress): number {
    const perEpoch = p.subEpochs * p.iterations * p.levels;
    return ((p.subEpoch * p.iterations + p.iteration) * p.levels + p.level + 1) / Math.max(1, perEpoch);
  }

  private static epochLabel(p: FitProgress): string {
    return `epoch ${p.epoch + 1}/${p.epochs}` + (p.subEpochs > 1 ? ` sub ${p.subEpoch + 1}/${p.subEpochs}` : '');
  }

  private lossText(p: FitProgress): string {
    return this.losses.length > 1 ? this.losses.map(formatLoss).join(' / ') : formatLoss(p.losses.loss);
  }

  /** The single line shown on a terminal for `p`. */
  line(p: FitProgress): string {
    const fraction = ProgressBar.fraction(p);
    const level = p.levels > 1 ? `level ${p.level + 1}/${p.levels} ` : '';
    const eta = (p.step + 1 < p.steps && Number.isFinite(p.etaSeconds) ? `  eta ${formatSeconds(p.etaSeconds)}` : '') +
      (p.budgetLeftSeconds === undefined ? '' : `  budget left ${formatSeconds(Math.max(0, p.budgetLeftSeconds))}`);
    return (
      `${level}${ProgressBar.epochLabel(p)} [${bar(fraction)}] ${String(Math.floor(fraction * 100)).padStart(3)}%` +
      `  loss ${formatLoss(p.losses.loss)}  lr ${p.lr.toExponential(1)}  ${Math.round(this.rate)} vec/s${eta}`
    );
  }

  update(p: FitProgress): void {
    if (this.mode === 'off') return;
    const batch = p.vectorsPerSecond > 0 ? p.vectorsPerSecond : 0;
    this.rate = this.rate === 0 ? batch : 0.8 * this.rate + 0.2 * batch;
    this.losses[p.level] = p.losses.loss;
    const endOfEpoch = p.subEpoch === p.subEpochs - 1 && p.iteration === p.iterations - 1 && p.level === p.levels - 1;
    if (this.mode === 'lines') {
      const t = this.now();
      if (!endOfEpoch) {
        if (t - Math.max(this.lastDraw, this.epochStarted) < this.lineIntervalMs) return;
        this.lastDraw = t;
        this.stream.write(this.line(p) + '\n');
        return;
      }
      this.lastDraw = t;
      const seconds = (t - this.epochStarted) / 1000;
      this.epochStarted = t;
      this.stream.write(
        `epoch ${p.epoch + 1}/${p.epochs}  loss ${this.lossText(p)}  lr ${p.lr.toExponential(1)}` +
          `  ${Math.round(this.rate)} vec/s  ${seconds.toFixed(1)} s` +
          (p.budgetLeftSeconds === undefined ? '' : `  budget left ${formatSeconds(Math.max(0, p.budgetLeftSeconds))}`) + '\n',
      );
      return;
    }
    const t = this.now();
    if (!endOfEpoch && p.step !== 0 && t - this.lastDraw < this.intervalMs) return;
    this.lastDraw = t;
    let text = this.line(p);
    const columns = this.stream.columns ?? 0;
    if (columns > 10 && text.length >= columns) text = text.slice(0, columns - 1);
    this.stream.write(`\r${text}\x1b[K`);
    this.drawn = true;
  }

  /** Ends the updating line (call before printing anything else, errors included). */
  finish(): void {
    if (this.mode === 'tty' && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
