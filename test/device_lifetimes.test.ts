// The CUDA resources' lifetime rules (cuBLAS handles released with their
// stream, the device carried with the stream, frees that wait for every stream
// that used a block, Staging's failure path) run here without a GPU: the
// bookkeeping in native/device is plain C++ over a Runtime interface, and
// build/Release/device_lifetimes_test drives it over a fake runtime
// (native/test/fake_runtime.h) that simulates two devices, reused stream
// addresses, events that complete later and allocation failures.
import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const exe = path.join(__dirname, '..', '..', 'build', 'Release', process.platform === 'win32' ? 'device_lifetimes_test.exe' : 'device_lifetimes_test');
const CASES = ['cublas_handles', 'device_guard', 'record_stream', 'stream_wait', 'staging_failure', 'out_of_memory'];

test('the device bookkeeping keeps its lifetime rules over a fake runtime (two devices, reused streams, late events, failed allocations)', (t) => {
  t.true(fs.existsSync(exe), `${exe} is built with the addon (npm install); it is missing`);
  const r = spawnSync(exe, [], { encoding: 'utf8', timeout: 60_000 });
  t.is(r.error, undefined);
  const lines = r.stdout.trim().split('\n');
  for (const name of CASES) t.true(lines.includes(`ok ${name}`), `case ${name}:\n${r.stdout}${r.stderr}`);
  t.is(r.status, 0, r.stdout + r.stderr);
});
