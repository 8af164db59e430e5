// hgad serve: the HTTP scoring service (lib/serve). Its flags and help; the
// run is in serve_run.ts, loaded only when the command runs.
import { Command } from './command';
import { DEVICE_FLAGS, IMAGE_MODEL_FLAG } from './model_file';
import { BATCH_FLAGS, BATCH_SCORE_FLAG } from './batch_flags';

export const serve: Command = {
  name: 'serve',
  summary: 'HTTP scoring service: POST /v1/predict with micro-batching, /healthz, /readyz, /metrics',
  usage: ['hgad serve --model M.safetensors [--backbone F.onnx] [--host 127.0.0.1] [--port 8080] [--max-batch 16] [--max-wait-ms 10] [--token-file F] [options]'],
  flags: [
    IMAGE_MODEL_FLAG,
    { name: 'backbone', value: 'F.onnx', help: 'the backbone the model was trained with (default the shipped demo backbone)' },
    { name: 'host', value: 'ADDR', help: 'the address to bind (default 127.0.0.1: this machine only)' },
    { name: 'port', value: 'N', help: 'the port (default 8080; 0 picks a free one)' },
    ...BATCH_FLAGS,
    { name: 'max-queue', value: 'N', help: 'the most images admitted at once; beyond it 429 with Retry-After (default 256)' },
    { name: 'token-file', value: 'F', help: 'a file holding a token: every route but /healthz and /readyz then needs "Authorization: Bearer TOKEN"' },
    { name: 'max-body-mb', value: 'MB', help: 'the largest request body (default 32)' },
    { name: 'max-pixels', value: 'N', help: 'the most pixels an image may have (default 40000000)' },
    { name: 'request-timeout-ms', value: 'MS', help: 'how long a request may take, its body and its answer (default 30000)' },
    BATCH_SCORE_FLAG,
    { name: 'sigma', value: 'S', help: 'Gaussian smoothing of the maps (default 4, as the reference)' },
    { name: 'top-k', value: 'K', help: 'image score = mean of the K highest pixels of its map (default 1: the maximum)' },
    ...DEVICE_FLAGS,
  ],
  notes: [
    'POST /v1/predict?class=NAME&map=png|npy|none with the image as the body (image/png, image/jpeg, image/tiff, image/webp) or several as multipart/form-data; answers {"class", "score", "map"?}.',
    'One JSON line per request on stdout; SIGTERM answers what is in flight, then exits 0.',
  ],
  run: async (args) => (await import('./serve_run')).runServe(args),
};
