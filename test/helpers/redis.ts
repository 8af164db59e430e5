// A redis-server of the test's own on a free loopback port, in a temporary
// folder (append-only file fsynced on every write, so a restart keeps every
// job), stopped by the test.
import { ChildProcess, spawn } from 'child_process';
import * as net from 'net';
import { freePort } from '../../bench/serve_setup';
import { tempDir } from './mvtec';

export { freePort };

function waitForPort(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tryOnce = () => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.end();
        resolve();
      });
      c.once('error', () => {
        c.destroy();
        if (Date.now() > end) reject(new Error(`redis-server did not listen on ${port} within ${ms} ms`));
        else setTimeout(tryOnce, 50);
      });
    };
    tryOnce();
  });
}

export class TestRedis {
  private proc: ChildProcess | null = null;
  readonly dir = tempDir('hgad-redis-');
  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<TestRedis> {
    const r = new TestRedis(await freePort());
    await r.restart();
    return r;
  }

  /** Starts the server (again, on the same port and folder). */
  async restart(): Promise<void> {
    this.proc = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(this.port), '--dir', this.dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--protected-mode', 'yes'], { stdio: 'ignore' });
    await waitForPort(this.port, 10_000);
  }

  /** Stops the server (SIGTERM: it writes its append-only file and exits). */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    this.proc = null;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  }
}
