// One typed surface: every function the addon exports is declared once in
// lib/binding.ts, every op of OpSurface is exported (one registration for host
// arrays and device buffers), and the cuda-prefixed names are the CUDA
// resources only, not a second name for an op.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { native } from '../lib/binding';

const source = fs.readFileSync(path.join(__dirname, '..', '..', 'lib', 'binding.ts'), 'utf8');

/** The text of `export interface name ... {` up to its closing line. */
function block(name: string): string {
  const start = source.indexOf(`export interface ${name} `);
  if (start < 0) throw new Error(`interface ${name} not found in lib/binding.ts`);
  return source.slice(start, source.indexOf('\n}\n', start));
}

/** Member names declared in a block: `  name(` or `  name:` at the start of a line. */
const members = (text: string) => [...text.matchAll(/^ {2}(\w+)[(:]/gm)].map((m) => m[1]);

test('every export of the addon is declared once in lib/binding.ts; every op of OpSurface is exported', (t) => {
  const exported = Object.keys(native).filter((k) => k !== 'alloc'); // alloc is made in lib/binding.ts around alignOffset
  const declared = members(source);
  for (const name of exported) t.is(declared.filter((d) => d === name).length, 1, `${name} declared once`);
  const ops = members(block('OpSurface'));
  t.true(ops.length >= 30, `${ops.length} ops in OpSurface`);
  for (const op of ops) t.is(typeof (native as unknown as Record<string, unknown>)[op], 'function', `${op} is registered`);
});

test('cuda-prefixed exports are the CUDA resources, never an op under a second name', (t) => {
  const resources = new Set(members(block('CudaResources')));
  const ops = new Set(members(block('OpSurface')));
  const prefixed = Object.keys(native).filter((k) => /^cuda[A-Z]/.test(k) && k !== 'cudaDevices');
  if (!native.buildInfo().cudaCompiled) t.is(prefixed.length, 0, 'nothing cuda-prefixed without CUDA');
  for (const name of prefixed) {
    t.true(resources.has(name), `${name} is a CUDA resource (CudaResources)`);
    const rest = name.slice(4);
    t.false(ops.has(rest[0].toLowerCase() + rest.slice(1)), `${name} is not a second name of an op`);
  }
});
