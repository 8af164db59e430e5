// The backbone in a worker thread of its own. onnxruntime-node runs a session
// synchronously on the thread that calls it, so a service that ran the
// backbone on its event loop could not answer /healthz (or accept requests)
// during a batch. This file is both the client (BackboneThread) and, loaded
// in the worker, the thread's loop: it opens the same ONNX file and answers
// one run at a time, the images and feature maps moved, not copied.
import * as path from 'path';
import { isMainThread, parentPort, Worker, workerData } from 'worker_threads';
import type { BackboneOptions } from '../images/backbone';
import type { FeatureExtractor } from '../images/feature_extractor';
import type { FeatureMap } from '../hgad/score_maps';

interface RunRequest {
  id: number;
  pixels: Float32Array;
  B: number;
  S: number;
}

type RunReply = { id: number; levels: FeatureMap[] } | { id: number; error: string; name: string };

interface ThreadData {
  hgadBackboneThread: true;
  file: string;
  options: BackboneOptions;
}

/** The backbone's run() in a worker thread; open() loads the file there. */
export class BackboneThread implements Pick<FeatureExtractor, 'run' | 'close'> {
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (l: FeatureMap[]) => void; reject: (e: Error) => void }>();
  private failure: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: RunReply | { ready: true } | { openError: string }) => {
      if ('id' in m) {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (!w) return;
        if ('error' in m) w.reject(Object.assign(new Error(m.error), { name: m.name }));
        else w.resolve(m.levels);
      }
    });
    const fail = (e: Error) => {
      this.failure ??= new Error(`the backbone thread ended (${e.message.split('\n')[0]})`);
      for (const w of this.waiting.values()) w.reject(this.failure);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  }

  /** Opens `file` (already checked against the model) in a new thread. */
  static async open(file: string, options: BackboneOptions): Promise<BackboneThread> {
    const data: ThreadData = { hgadBackboneThread: true, file, options };
    const worker = new Worker(path.join(__dirname, 'backbone_thread.js'), { workerData: data });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: { ready?: true; openError?: string }) => {
        worker.off('error', reject);
        if (m.openError !== undefined) {
          void worker.terminate();
          reject(new Error(m.openError));
        } else resolve();
      };
      worker.once('message', onMessage);
      worker.once('error', reject);
    });
    return new BackboneThread(worker);
  }

  /**
   * images: (B, 3, S, S) float32, moved to the thread (unusable here afterwards)
   * -> one FeatureMap (B, C, h, w) per level
   */
  run(images: Float32Array, B: number, S: number): Promise<FeatureMap[]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      const request: RunRequest = { id, pixels: images, B, S };
      this.worker.postMessage(request, [images.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.worker.postMessage({ close: true });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate().then(() => resolve()), 5000);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

async function threadMain(data: ThreadData): Promise<void> {
  const port = parentPort!;
  const { Backbone } = await import('../images/backbone');
  let backbone: FeatureExtractor;
  try {
    backbone = await Backbone.open(data.file, data.options);
  } catch (e) {
    port.postMessage({ openError: (e as Error).message });
    return;
  }
  port.postMessage({ ready: true });
  port.on('message', async (m: RunRequest | { close: true }) => {
    if ('close' in m) {
      await backbone.close();
      port.close();
      return;
    }
    try {
      // Copied out of onnxruntime's buffers (which may be shared or not detachable), then moved.
      const levels = (await backbone.run(m.pixels, m.B, m.S)).map((l) => ({ ...l, data: Float32Array.from(l.data) }));
      port.postMessage({ id: m.id, levels } satisfies RunReply, levels.map((l) => l.data.buffer as ArrayBuffer));
    } catch (e) {
      port.postMessage({ id: m.id, error: (e as Error).message, name: (e as Error).name } satisfies RunReply);
    }
  });
}

if (!isMainThread && (workerData as ThreadData | null)?.hgadBackboneThread === true) void threadMain(workerData as ThreadData);
