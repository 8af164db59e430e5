// Property tests (fast-check) over what a user can hand the library: .npy and
// safetensors bytes, the command line's options, the public API's arguments.
// The invariants: no abort and no hang (each case under a deadline), memory
// bounded by what is legitimately read (a parse never allocates more than
// its input holds), no file other than the intended output changes, and
// every failure is one line naming what was wrong. Bounded in time: each
// property stops after its run count or its time budget, whichever is first.
import test from 'ava';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import fc from 'fast-check';
import { encodeNpy, parseNpy } from '../lib/io/npy';
import { encodeSafetensors, parseSafetensors } from '../lib/io/safetensors';
import { FormatError } from '../lib/errors';
import { HGAD } from '../lib/hgad';
import { writeDataset, CliDataset } from './helpers/cli_data';
import { runCli, runInProcess } from './helpers/cli_run';

const BUDGET_MS = Number(process.env.HGAD_FUZZ_MS ?? 8000);
const seed = Number(process.env.HGAD_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

function oneLine(message: unknown): boolean {
  return typeof message === 'string' && message.length > 0 && !message.includes('\n');
}

/** Valid files to mutate: the parsers' interesting paths start from real headers. */
const npySeeds = [
  encodeNpy({ dtype: 'float32', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 3) }),
  encodeNpy({ dtype: 'int64', shape: [2], data: BigInt64Array.of(-1n, 5n) }),
  encodeNpy({ dtype: 'bool', shape: [5], data: Uint8Array.of(1, 0, 1, 1, 0) }),
  encodeNpy({ dtype: 'uint8', shape: [], data: Uint8Array.of(7) }),
];
const safeSeeds = [
  encodeSafetensors({ a: { dtype: 'F32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }, b: { dtype: 'I64', shape: [1], data: BigInt64Array.of(3n) } }, { k: 'v' }),
  encodeSafetensors({}),
];

/** A mutation of a seed file: bytes overwritten, cut, extended, or its header text edited. */
function mutated(seeds: Buffer[]): fc.Arbitrary<Buffer> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(200), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(300) }),
    fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
    fc.record({ kind: fc.constant('text' as const), at: fc.nat(120), text: fc.constantFrom('(', ')', '[[[[', '{', '}', "'", '"', '-1', '99999999999', '1e308', 'True', 'None', ',', ':', '\\', '\u00ff', '9007199254740993') }),
  );
  return fc.tuple(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 4 })).map(([base, edits]) => {
    let b = Buffer.from(base);
    for (const e of edits) {
      if (e.kind === 'set') b.set(e.bytes.subarray(0, Math.max(0, b.length - (e.at % Math.max(1, b.length)))), e.at % Math.max(1, b.length));
      else if (e.kind === 'cut') b = b.subarray(0, e.at % (b.length + 1));
      else if (e.kind === 'append') b = Buffer.concat([b, e.bytes]);
      else {
        const at = e.at % (b.length + 1);
        b = Buffer.concat([b.subarray(0, at), Buffer.from(e.text, 'latin1'), b.subarray(at)]);
      }
    }
    return b;
  });
}

function parserProperty(name: string, parse: (b: Buffer) => { bytes: number }, seeds: Buffer[]) {
  test(`fuzz: ${name} returns what fits in its input or one FormatError line`, (t) => {
    const result = fc.check(
      fc.property(fc.oneof(mutated(seeds), fc.uint8Array({ maxLength: 256 }).map((u) => Buffer.from(u))), (buf) => {
        const started = Date.now();
        try {
          const { bytes } = parse(buf);
          // Memory bounded by what was read: the arrays returned fit in the input.
          if (bytes > buf.length) return false;
        } catch (e) {
          if (!(e instanceof FormatError)) throw e;
          if (!oneLine(e.message) || !e.message.startsWith('fuzz.bin: ')) return false;
        }
        return Date.now() - started < 1000;
      }),
      { seed, numRuns: 3000, interruptAfterTimeLimit: BUDGET_MS },
    );
    t.log(`${result.numRuns} cases, seed ${seed}`);
    t.false(result.failed, fc.defaultReportMessage(result) ?? '');
    t.true(result.numRuns >= 100);
  });
}

parserProperty('parseNpy', (b) => ({ bytes: parseNpy(b, 'fuzz.bin').data.byteLength }), npySeeds);
parserProperty(
  'parseSafetensors',
  (b) => ({ bytes: Object.values(parseSafetensors(b, 'fuzz.bin').tensors).reduce((a, x) => a + x.data.byteLength, 0) }),
  safeSeeds,
);

// ------------------------------------------------------------ the command line

const sandbox = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-fuzz-'));
let d: CliDataset;
const model = path.join(sandbox, 'model.safetensors');
test.before(async () => {
  d = writeDataset(sandbox);
  const r = await runCli(['train', '--features', d.features, '--labels', d.labels, '--epochs', '1', '--couplings', '1', '--intra-centres', '2', '--quiet', '--out', model]);
  if (r.code !== 0) throw new Error(r.stderr);
  fs.mkdirSync(path.join(sandbox, 'dir'));
});
test.after.always(() => fs.rmSync(sandbox, { recursive: true, force: true }));

function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name);
    const st = fs.lstatSync(file);
    out.set(name, st.isFile() ? crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex') : `${st.mode}`);
  }
  return out;
}

test('fuzz: command lines end in exit 0, 1 or 2 with one or two "hgad:" lines, changing no file but --out', async (t) => {
  const files = () => [d.features, d.labels, d.test, d.testLabels, d.truth, model, '/dev/zero', path.join(sandbox, 'dir'), path.join(sandbox, 'missing.npy'), ''];
  const value = fc.oneof(
    fc.constantFrom(...files()),
    fc.constantFrom('0', '1', '-1', '2.5', 'NaN', '1e400', 'a', 'calibrated', 'logp', 'cpu', 'cuda', 'tf32', '99999999999', ''),
    fc.string({ maxLength: 6 }),
  );
  const flag = fc.constantFrom('--features', '--labels', '--model', '--class', '--kind', '--scores', '--truth', '--batch-size', '--epochs',
    '--couplings', '--device', '--precision', '--json', '--quiet', '--class-names', '--bogus', '-x', '--lr');
  const command = fc.constantFrom('score', 'info', 'eval', 'train', 'nope');
  const outTarget = fc.constantFrom('out.npy', 'dir', 'model.safetensors', 'features.npy', 'sub/out.npy');
  const argv = fc.tuple(command, fc.array(fc.tuple(flag, value), { maxLength: 6 }), fc.option(outTarget)).map(([cmd, pairs, out]) => {
    const args = [cmd, ...pairs.flat()];
    // train is fuzzed on its options only, kept small so that a run that trains stays short
    if (cmd === 'train') args.push('--epochs', '1', '--couplings', '1', '--quiet');
    if (out !== null) args.push('--out', path.join(sandbox, out));
    return { args, out: out === null ? null : out };
  });
  const result = await fc.check(
    fc.asyncProperty(argv, async ({ args, out }) => {
      const before = snapshot(sandbox);
      const started = Date.now();
      const r = await runInProcess(args);
      const after = snapshot(sandbox);
      if (![0, 1, 2].includes(r.code)) return false;
      if (r.code !== 0) {
        const lines = r.stderr.trimEnd().split('\n');
        if (lines.length > 2 || !lines[0].startsWith('hgad: ') || /^\s+at /m.test(r.stderr)) return false;
      }
      for (const [name, hash] of before) if (after.get(name) !== hash && name !== out) return false;
      for (const name of after.keys()) if (!before.has(name) && name !== out) return false;
      if (out !== null && out !== 'out.npy') {
        // inputs, the model and directories given as --out are refused, never replaced
        if (after.get(out) !== before.get(out)) return false;
      }
      return Date.now() - started < 20_000;
    }),
    { seed, numRuns: 60, interruptAfterTimeLimit: BUDGET_MS * 2 },
  );
  t.log(`${result.numRuns} command lines, seed ${seed}`);
  t.false(result.failed, fc.defaultReportMessage(result) ?? '');
  t.true(result.numRuns >= 10);
});

// ------------------------------------------------------------ the public API

test('fuzz: the public API answers any argument with a result or one TypeError/RangeError/Error line', async (t) => {
  const dims = fc.oneof(fc.integer({ min: -3, max: 6 }), fc.constantFrom(1.5, NaN, 2 ** 32, Infinity, '4' as unknown as number, null as unknown as number));
  const config = fc.record({
    levels: fc.oneof(fc.constant([{ channels: 4, condChannels: 0 }]), fc.array(fc.record({ channels: dims, condChannels: dims }), { maxLength: 2 }), fc.anything()),
    classNames: fc.oneof(fc.constant(['a', 'b']), fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }), fc.anything()),
    couplings: fc.oneof(fc.constant(1), dims),
    clamp: fc.oneof(fc.constant(1.9), fc.double()),
    intraCentres: fc.oneof(fc.constant(2), dims),
  }, { requiredKeys: [] });
  const floats = fc.oneof(
    fc.integer({ min: 0, max: 12 }).map((n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i))),
    fc.constant(Float32Array.of(NaN, 1, 2, 3)),
    fc.anything(),
  );
  const ids = fc.oneof(fc.integer({ min: -2, max: 3 }), fc.double(), fc.integer({ min: 0, max: 4 }).map((n) => Int32Array.from({ length: n }, (_, i) => i % 2)), fc.anything());
  const call = fc.record({
    config,
    inputs: fc.oneof(fc.array(fc.record({ features: floats, cond: fc.option(floats) }), { maxLength: 2 }), fc.anything()),
    classes: ids,
    options: fc.oneof(fc.constant({ epochs: 1, batchSize: 2 }), fc.record({ epochs: dims, batchSize: dims, lr: fc.double() }, { requiredKeys: [] }), fc.anything()),
  });
  const allowed = (e: unknown) => e instanceof Error && [TypeError, RangeError, Error, FormatError].some((C) => e.constructor === C) && oneLine(e.message);
  const result = await fc.check(
    fc.asyncProperty(call, async ({ config: cfg, inputs, classes, options }) => {
      let model: HGAD;
      try {
        model = HGAD.create(cfg as never, 0);
      } catch (e) {
        return allowed(e);
      }
      const ok = async (p: () => Promise<unknown>) => {
        try {
          await Promise.race([p(), new Promise((_, reject) => setTimeout(() => reject(new Error('deadline')), 20_000))]);
          return true;
        } catch (e) {
          return allowed(e) && (e as Error).message !== 'deadline';
        }
      };
      const labels = classes instanceof Int32Array ? classes : Int32Array.of(0, 1);
      const fine =
        (await ok(() => model.score(inputs as never, classes as never))) &&
        (await ok(() => model.fit((Array.isArray(inputs) ? inputs.map((x) => ({ ...(x as object), labels })) : inputs) as never, options as never)));
      model.close();
      return fine;
    }),
    { seed, numRuns: 150, interruptAfterTimeLimit: BUDGET_MS },
  );
  t.log(`${result.numRuns} calls, seed ${seed}`);
  t.false(result.failed, fc.defaultReportMessage(result) ?? '');
  t.true(result.numRuns >= 20);
});
