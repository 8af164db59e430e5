// Temporary folders left by runs killed with kill -9 (a feature cache being
// extracted, a --maps folder being written) are removed by a later run once
// their process is gone; those of live processes, of a process whose pid was
// reused, and of other hosts are told apart.
import test from 'ava';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { findCache } from '../lib/data/cache_writer';
import { isStale, ownerOf, removeStaleFolders, tempFolderName } from '../lib/io/stale_temps';
import { StagedFolder } from '../lib/localise/outputs';
import { tempDir } from './helpers/mvtec';

const lib = (p: string) => JSON.stringify(path.resolve(__dirname, '../lib', p));

/** Runs `script` in a child node, waits for its "ready" line, kills it with SIGKILL. */
async function killWhenReady(script: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`the child exited (${code}) before it was ready`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
}

test('kill -9 during cache extraction leaves a temporary folder that the next run removes', async (t) => {
  const root = tempDir();
  const dir = path.join(root, '0123456789abcdef');
  // A writer mid-extraction: level files growing image by image, never finished.
  await killWhenReady(`const { CacheWriter } = require(${lib('data/cache_writer')});
const w = new CacheWriter(${JSON.stringify(dir)}, [{ name: 'a', channels: 64, height: 16, width: 16 }], 'float16', 1000);
const maps = new Float32Array(64 * 256).fill(0.5);
for (let i = 0; i < 50; ++i) w.appendImage(0, maps, 'img');
console.log('ready'); setInterval(() => w.appendImage(0, maps, 'img'), 1);`);
  const left = fs.readdirSync(root);
  t.is(left.length, 1);
  t.regex(left[0], /^\.0123456789abcdef\.\d+\.[0-9a-f]{16}\.[0-9a-f]{8}\.tmp$/);
  t.true(fs.statSync(path.join(root, left[0], 'level0.bin')).size >= 50 * 64 * 256 * 2, 'the killed run had written features');
  // A live run's folder is kept.
  const live = path.join(root, tempFolderName('fedcba9876543210'));
  fs.mkdirSync(live);
  const warnings: string[] = [];
  t.is(findCache(dir, '0123456789abcdef'.padEnd(64, '0'), { onWarning: (m) => warnings.push(m) }), null);
  t.deepEqual(fs.readdirSync(root), [path.basename(live)]);
  t.deepEqual(warnings, [`removed 1 temporary folder of killed runs from ${root}`]);
});

test('kill -9 during test --maps leaves a staging folder that the next run removes', async (t) => {
  const parent = tempDir();
  const target = path.join(parent, 'maps');
  await killWhenReady(`const { StagedFolder } = require(${lib('localise/outputs')});
const fs = require('fs');
const s = StagedFolder.open(${JSON.stringify(target)}, '--maps');
fs.writeFileSync(s.file('bottle', 'crack', '000.png'), Buffer.alloc(1000));
console.log('ready'); setInterval(() => {}, 1000);`);
  t.is(fs.readdirSync(parent).length, 1, 'the killed run left its staging folder');
  const other = path.join(parent, tempFolderName('other-maps'));
  fs.mkdirSync(other);
  const staged = StagedFolder.open(target, '--maps');
  t.deepEqual(fs.readdirSync(parent).sort(), [path.basename(other), path.basename(staged.tmp)].sort(), "only the killed run's folder of this target is removed");
  fs.writeFileSync(staged.file('a.txt'), 'x');
  staged.commit();
  t.deepEqual(fs.readdirSync(target), ['a.txt']);
});

test('a temporary folder is stale when its pid is gone or was reused, never when it is live or of another host', (t) => {
  const mine = tempFolderName('x').split('.');
  const owner = mine[3];
  t.false(isStale(process.pid, owner), 'this process');
  // The parent process is alive: with its own start time it is live; with another one its pid was reused.
  const parent = tempDir();
  t.false(isStale(process.ppid, ownerOf(process.ppid)), 'a live process');
  t.true(isStale(process.ppid, `${owner.slice(0, 8)}00000000`), 'a live pid whose start time differs: reused');
  t.true(isStale(2 ** 22 + 12345, owner), 'a pid that is not alive (above pid_max)');
  t.false(isStale(2 ** 22 + 12345, `00000000${owner.slice(8)}`), 'another host: left alone');
  const dead = path.join(parent, `.maps.${2 ** 22 + 12345}.${owner}.0badc0de.tmp`);
  const file = path.join(parent, `.maps.${2 ** 22 + 12346}.${owner}.0badc0de.tmp`);
  fs.mkdirSync(dead);
  fs.writeFileSync(file, 'not a folder');
  t.deepEqual(removeStaleFolders(parent, (b) => b === 'maps'), [dead]);
  t.deepEqual(fs.readdirSync(parent), [path.basename(file)], 'a file of such a name is left alone');
});
