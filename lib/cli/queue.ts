// hgad queue (add, status) and hgad worker: scoring spread over processes
// and machines through a BullMQ queue in Redis (lib/queue). Flags and help
// here; the runs are in queue_run.ts, loaded (with bullmq) only when a queue
// command runs.
import { Command } from './command';
import { DEVICE_FLAGS, IMAGE_MODEL_FLAG, IMAGE_SCORING_FLAGS } from './model_file';
import { BATCH_FLAGS, BATCH_SCORE_FLAG } from './batch_flags';

const REDIS_FLAG = { name: 'redis', value: 'URL', required: true, help: 'the Redis server, redis://HOST:PORT[/DB]' };
const QUEUE_FLAG = { name: 'queue', value: 'Q', required: true, help: 'the queue name (letters, digits, _ . -)' };

export const queueCommand: Command = {
  name: 'queue',
  summary: 'add images to a scoring queue in Redis (one job per image), or print its counts',
  usage: [
    'hgad queue add --redis URL --queue Q [--class NAME] (--manifest list.txt | --dir DIR | IMAGE...)',
    'hgad queue status --redis URL --queue Q [--json]',
  ],
  positional: 'add|status [IMAGE...]',
  flags: [
    REDIS_FLAG,
    QUEUE_FLAG,
    { name: 'manifest', value: 'F', help: 'add: a text file naming one image a line (relative to its folder; # comments)' },
    { name: 'dir', value: 'DIR', help: 'add: every image directly in DIR (.png .jpg .jpeg .tif .tiff .webp)' },
    { name: 'class', value: 'NAME', help: 'add: the class of the images (a class name of the model, or its id)' },
    { name: 'attempts', value: 'N', help: 'add: tries per image before it is failed (default 3)' },
    { name: 'backoff-ms', value: 'MS', help: 'add: delay before the first retry, doubled for each next one (default 1000)' },
    { name: 'json', help: 'status: print the counts as JSON' },
  ],
  notes: ['Job ids derive from each image\'s path, size and modification time: adding the same images again queues nothing new.'],
  run: async (args) => (await import('./queue_run')).runQueue(args),
};

export const workerCommand: Command = {
  name: 'worker',
  summary: 'score the jobs of a Redis queue in batches; results under OUT by job id',
  usage: ['hgad worker --redis URL --queue Q --model M.safetensors --out DIR [--concurrency N] [options]'],
  flags: [
    REDIS_FLAG,
    QUEUE_FLAG,
    IMAGE_MODEL_FLAG,
    { name: 'out', value: 'DIR', required: true, help: 'results as DIR/results/<job>.jsonl (one JSON line each) and maps as DIR/maps/<job>.npy' },
    { name: 'concurrency', value: 'N', help: 'jobs in flight at once, scored together (default --max-batch)' },
    ...BATCH_FLAGS,
    { name: 'stall-ms', value: 'MS', help: 'a dead worker\'s jobs are taken over after this long (default 30000)' },
    BATCH_SCORE_FLAG,
    ...IMAGE_SCORING_FLAGS,
    ...DEVICE_FLAGS,
  ],
  notes: ['Runs until SIGTERM or SIGINT, then finishes the jobs in flight and exits 0.'],
  run: async (args) => (await import('./queue_run')).runWorker(args),
};
