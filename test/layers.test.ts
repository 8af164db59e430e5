// The layer rules of .dependency-cruiser.cjs (ARCHITECTURE.md, "Layers") hold
// for lib/, and they catch what they are for: an upward import, a run-time
// cycle, binding.ts outside lib/backend, a kernel call from lib/nn, images in
// the model core. The rules run on lib/ itself and on a small tree that breaks
// each of them.
import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');
const CRUISE = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

function cruise(cwd: string): Violation[] {
  const r = spawnSync(process.execPath, [CRUISE, 'lib', '--config', path.join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'json'], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (!r.stdout.trim()) throw new Error(`dependency-cruiser printed nothing (exit ${r.status}): ${r.stderr.split('\n').slice(0, 3).join(' ')}`);
  const out = JSON.parse(r.stdout) as { summary: { violations: Violation[]; totalCruised: number } };
  if (out.summary.totalCruised === 0) throw new Error(`nothing cruised in ${cwd}: ${r.stderr}`);
  return out.summary.violations;
}

test('lib/ keeps its layers: no upward import, no run-time cycle, binding.ts only from lib/backend', (t) => {
  const v = cruise(ROOT);
  t.deepEqual(v.map((x) => `${x.rule.name}: ${x.from} -> ${x.to}`), []);
});

test('the rules catch each kind of violation', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgad-layers-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'lib/binding.ts': 'export const raw = 1;\n',
    'lib/backend/cpu.ts': "import { raw } from '../binding';\nexport const cpu = raw;\n",
    'lib/nn/flow.ts': "import { cpu } from '../backend/cpu';\nexport const flow = cpu;\n",
    'lib/hgad/model.ts': "import { image } from '../images/load';\nimport { flow } from '../nn/flow';\nexport const model = image + flow;\n",
    'lib/images/load.ts': 'export const image = 2;\n',
    'lib/maps/a.ts': "import { b } from './b';\nexport const a = () => b;\n",
    'lib/maps/b.ts': "import { a } from './a';\nexport const b = () => a;\n",
    'lib/metrics/auroc.ts': "import { raw } from '../binding';\nexport const auroc = raw;\n",
    'tsconfig.json': JSON.stringify({ compilerOptions: { strict: true, module: 'commonjs' }, include: ['lib'] }),
  };
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  }
  const rules = new Set(cruise(dir).map((x) => `${x.rule.name}: ${x.from} -> ${x.to}`));
  for (const expected of [
    'no-upward-from-hgad: lib/hgad/model.ts -> lib/images/load.ts',
    'core-knows-no-images: lib/hgad/model.ts -> lib/images/load.ts',
    'nn-no-kernel-calls: lib/nn/flow.ts -> lib/backend/cpu.ts',
    'binding-only-from-backend: lib/metrics/auroc.ts -> lib/binding.ts',
    'no-circular: lib/maps/a.ts -> lib/maps/b.ts',
  ]) {
    t.true(rules.has(expected), `${expected} not among ${[...rules].join('; ')}`);
  }
  t.false([...rules].some((r) => r.includes('lib/backend/cpu.ts -> lib/binding.ts')), 'lib/backend may use binding.ts');
});
