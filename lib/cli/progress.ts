// Training progress on stderr: on a terminal one line updated in place
// ("epoch 2/6 [#####.....] 45%  loss -12.345  lr 1.0e-3  1234 vec/s"), elsewhere
// one line per epoch, or nothing when quiet.
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

  constructor(
    private readonly stream: ProgressStream,
    readonly mode: ProgressMode,
    /** Number of levels (a "level l/L" prefix is shown when > 1). */
    private readonly levels = 1,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = 100,
  ) {
    this.started = now();
    this.epochStarted = this.started;
  }

  /** The single line shown on a terminal for `p`. */
  line(p: FitProgress): string {
    const fraction = (p.iteration + 1) / Math.max(1, p.iterations);
    const level = this.levels > 1 ? `level ${p.level + 1}/${this.levels} ` : '';
    const total = this.levels * p.epochs * p.iterations;
    const done = (p.level * p.epochs + p.epoch) * p.iterations + p.iteration + 1;
    const elapsed = (this.now() - this.started) / 1000;
    const eta = done > 0 && done < total ? `  eta ${formatSeconds((elapsed / done) * (total - done))}` : '';
    return (
      `${level}epoch ${p.epoch + 1}/${p.epochs} [${bar(fraction)}] ${String(Math.floor(fraction * 100)).padStart(3)}%` +
      `  loss ${formatLoss(p.losses.loss)}  lr ${p.lr.toExponential(1)}  ${Math.round(this.rate)} vec/s${eta}`
    );
  }

  update(p: FitProgress): void {
    if (this.mode === 'off') return;
    const batch = p.vectorsPerSecond > 0 ? p.vectorsPerSecond : 0;
    this.rate = this.rate === 0 ? batch : 0.8 * this.rate + 0.2 * batch;
    const endOfEpoch = p.iteration === p.iterations - 1;
    if (this.mode === 'lines') {
      if (!endOfEpoch) return;
      const t = this.now();
      const seconds = (t - this.epochStarted) / 1000;
      this.epochStarted = t;
      const level = this.levels > 1 ? `level ${p.level + 1}/${this.levels} ` : '';
      this.stream.write(
        `${level}epoch ${p.epoch + 1}/${p.epochs}  loss ${formatLoss(p.losses.loss)}  lr ${p.lr.toExponential(1)}` +
          `  ${Math.round(this.rate)} vec/s  ${seconds.toFixed(1)} s\n`,
      );
      return;
    }
    const t = this.now();
    if (!endOfEpoch && p.iteration !== 0 && t - this.lastDraw < this.intervalMs) return;
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
