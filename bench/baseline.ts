// The single-Gaussian flow baseline of the evaluation: the same flow trained
// with loss mean(0.5 |z|^2 - logdet) / C and the same optimiser and schedule,
// scored by its log-likelihood per dimension.
import { gaussianNll } from '../lib/autograd/ops';
import { backward, noGrad } from '../lib/autograd/tape';
import { Flow } from '../lib/nn/flow';
import { Adam } from '../lib/optim/adam';
import { Random } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { TrainConfig, validateTrainConfig, trainingSchedule } from '../lib/hgad/config';

export function fitSingleGaussianFlow(flow: Flow, features: Float32Array, options?: Partial<TrainConfig>): number {
  const opts = validateTrainConfig(options);
  const C = flow.config.channels;
  const N = features.length / C;
  const batch = Math.min(opts.batchSize, N);
  const iterations = Math.floor(N / batch);
  const lrTable = trainingSchedule(opts, iterations);
  const adam = new Adam([{ name: 'flow', params: flow.parameters(), lr: opts.lr, betas: [0.95, 0.99], weightDecay: 1e-4 }]);
  const rng = new Random(opts.seed);
  const order = Int32Array.from({ length: N }, (_, i) => i);
  let last = NaN;
  for (let epoch = 0; epoch < opts.epochs; ++epoch) {
    rng.shuffle(order);
    for (let it = 0; it < iterations; ++it) {
      adam.setLearningRate(lrTable[epoch * iterations + it]);
      const x = Tensor.empty([batch, C]);
      for (let i = 0; i < batch; ++i) {
        const r = order[it * batch + i];
        x.data.set(features.subarray(r * C, (r + 1) * C), i * C);
      }
      const { z, logdet } = flow.forward(x, null);
      const loss = gaussianNll(z, logdet);
      last = loss.data[0];
      if (!Number.isFinite(last)) throw new Error(`baseline fit: the loss became ${last} at epoch ${epoch + 1}, iteration ${it + 1}`);
      backward(loss);
      adam.step();
      for (const p of flow.parameters()) p.grad = null;
    }
  }
  return last;
}

/** log N(z; 0, I) + logdet, divided by C (the constant included).  -> (N) */
export function singleGaussianLogp(flow: Flow, features: Float32Array): Float32Array {
  const C = flow.config.channels;
  const N = features.length / C;
  const out = new Float32Array(N);
  noGrad(() => {
    const { z, logdet } = flow.forward(Tensor.from(features, [N, C]), null);
    for (let n = 0; n < N; ++n) {
      let sq = 0;
      for (let c = 0; c < C; ++c) sq += z.data[n * C + c] * z.data[n * C + c];
      out[n] = (-0.5 * sq - 0.9189385332046727 * C + logdet.data[n]) / C;
    }
  });
  return out;
}
