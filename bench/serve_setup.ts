// What the service and queue benches share: a small image model fitted by the
// CLI on generated textures (two classes), the images to score, the
// redis-server of the queue bench, and percentiles.
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { Random } from '../lib/random';

export const CLI = path.join(__dirname, '..', 'lib', 'cli', 'main.js');

async function texture(file: string, rng: Random, k: number, size: number): Promise<void> {
  const px = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; ++y) for (let x = 0; x < size; ++x) for (let c = 0; c < 3; ++c) {
    px[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(128 + 60 * Math.sin((0.2 + 0.15 * k) * x + 0.3 * c) * Math.cos((0.2 + 0.15 * k) * y) + 20 * (rng.uniform() - 0.5))));
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toFile(file);
}

/** Fits a model at crop `size` and writes `n` test images of class a; returns their paths. */
export async function benchModel(size: number, n: number): Promise<{ dir: string; model: string; images: string[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-bench-serve-'));
  const rng = new Random(7);
  for (const [k, cls] of ['a', 'b'].entries()) for (let i = 0; i < 8; ++i) await texture(path.join(dir, 'data', cls, 'train', 'good', `${i}.png`), rng, k, size);
  const images: string[] = [];
  for (let i = 0; i < n; ++i) {
    const f = path.join(dir, 'images', `${String(i).padStart(4, '0')}.png`);
    await texture(f, rng, 0, size);
    images.push(f);
  }
  const model = path.join(dir, 'm.safetensors');
  execFileSync(process.execPath, [CLI, 'fit', '--data', path.join(dir, 'data'), '--out', model, '--cache', path.join(dir, 'cache'), '--image-size', String(size),
    '--cond-channels', '8', '--couplings', '1', '--intra-centres', '2', '--meta-epochs', '1', '--sub-epochs', '1', '--batch-images', '4', '--quiet'], { stdio: 'inherit' });
  return { dir, model, images };
}

export function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A redis-server on a free loopback port without persistence; stop() ends it. */
export async function startRedis(): Promise<{ url: string; port: number; stop(): void }> {
  const port = await freePort();
  const proc: ChildProcess = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; ; ++i) {
    const up = await new Promise<boolean>((r) => {
      const c = net.connect(port, '127.0.0.1', () => { c.end(); r(true); });
      c.on('error', () => r(false));
    });
    if (up) break;
    if (i > 200) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `redis://127.0.0.1:${port}`, port, stop: () => void proc.kill('SIGTERM') };
}

/** Starts `hgad serve` on a free port; resolves to its URL once it listens. */
export function startServe(args: string[], env: Record<string, string> = {}): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  return new Promise((resolve, reject) => {
    proc.stderr!.on('data', (d) => {
      err += d;
      const m = /listening on (\S+)/.exec(err);
      if (m) resolve({ proc, url: m[1] });
    });
    proc.once('exit', (code) => reject(new Error(`hgad serve exited with ${code}: ${err}`)));
  });
}

/** Peak resident memory of a process in MB (Linux; null elsewhere). */
export function peakRssMb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}
