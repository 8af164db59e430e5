// Temporary folders (a feature cache being built, a folder of maps being
// written) that say who made them, so that a later run can remove those of a
// process killed with kill -9, which no exit hook sees. A temporary folder is
// named .<base>.<pid>.<owner>.<random>.tmp, where <owner> is 16 hex digits:
// 8 from the host name, 8 from the boot id and the process's start time
// (Linux: /proc/sys/kernel/random/boot_id and /proc/<pid>/stat). A folder is
// stale when it was made on this host and its process is gone: the pid is
// not alive, or it is alive but started at another time or boot (the pid was
// reused). Folders of another host (a cache on a shared disk) are left alone;
// where /proc is missing, the check falls back to "the pid is not alive".
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { processAlive } from './atomic';

const NAME = /^\.(.+)\.(\d+)\.([0-9a-f]{16})\.[0-9a-f]{8}\.tmp$/;

function sha1Prefix(text: string): string {
  return crypto.createHash('sha1').update(text).digest('hex').slice(0, 8);
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

/** The start time of process `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat), '' where unknown. */
function startTime(pid: number): string {
  const stat = readOr(`/proc/${pid}/stat`, '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields.length > 19 ? fields[19] : '';
}

const HOST = sha1Prefix(os.hostname());
const BOOT = readOr('/proc/sys/kernel/random/boot_id', '');

/** The owner tag of process `pid` as seen from here: host, boot and the process's start time. */
export function ownerOf(pid: number): string {
  return HOST + sha1Prefix(`${BOOT}:${startTime(pid)}`);
}

let own: string | undefined;

/** A fresh temporary folder name for `base` owned by this process (not created). */
export function tempFolderName(base: string): string {
  own ??= ownerOf(process.pid);
  return `.${base}.${process.pid}.${own}.${crypto.randomBytes(4).toString('hex')}.tmp`;
}

/** Whether a temporary folder of process `pid` with owner tag `owner` was left by a process that is gone. */
export function isStale(pid: number, owner: string): boolean {
  if (owner.slice(0, 8) !== HOST) return false;
  if (!processAlive(pid)) return true;
  return pid !== process.pid && ownerOf(pid) !== owner;
}

/**
 * Removes the stale temporary folders in `parent` whose base `accept`s (see
 * the top of the file), and returns their paths. Only folders are removed:
 * a file or link of such a name is someone else's.
 */
export function removeStaleFolders(parent: string, accept: (base: string) => boolean): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = NAME.exec(name);
    if (!m || !accept(m[1]) || !isStale(Number(m[2]), m[3])) continue;
    const full = path.join(parent, name);
    try {
      if (!fs.lstatSync(full).isDirectory()) continue;
      fs.rmSync(full, { recursive: true, force: true });
      removed.push(full);
    } catch {
      // removed meanwhile by another run
    }
  }
  return removed;
}
