// Files of a localisation run: the inspected image as displayed under its
// heat map, and a folder of maps that appears whole or not at all.
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { Preprocessing, resizeGeometry } from '../images/preprocess';
import { removeStaleFolders, tempFolderName } from '../io/stale_temps';
import type { RgbImage } from '../maps/heatmap';

/** The image as the model saw it (resized and centre-cropped), in RGB bytes, for overlays. */
export async function displayImage(file: string, p: Preprocessing): Promise<RgbImage> {
  const meta = await sharp(file).metadata();
  const g = resizeGeometry(meta.width ?? p.crop, meta.height ?? p.crop, p);
  const { data } = await sharp(file)
    .removeAlpha()
    .toColourspace('srgb')
    .resize(g.width, g.height, { fit: 'fill' })
    .extract({ left: g.left, top: g.top, width: p.crop, height: p.crop })
    .raw()
    .toBuffer({ resolveWithObject: true });
  let rgb = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (rgb.length === p.crop * p.crop) rgb = Uint8Array.from({ length: rgb.length * 3 }, (_, i) => data[Math.floor(i / 3)]);
  return { data: rgb, width: p.crop, height: p.crop };
}

/**
 * An output folder built in a temporary sibling and moved into place by
 * commit(): a failed run leaves no partial folder. The target must not exist
 * or be an empty folder; its parent must exist and be writable.
 */
export class StagedFolder {
  readonly tmp: string;

  private constructor(readonly target: string, tmp: string) {
    this.tmp = tmp;
  }

  /** Checks the target (a one-line Error naming the flag when it cannot be written) and creates the staging folder. */
  static open(target: string, flag: string): StagedFolder {
    const abs = path.resolve(target);
    const st = fs.statSync(abs, { throwIfNoEntry: false });
    if (st && (!st.isDirectory() || fs.readdirSync(abs).length > 0)) throw new Error(`${flag} ${target}: exists and is not an empty folder`);
    const parent = path.dirname(abs);
    try {
      fs.accessSync(parent, fs.constants.W_OK);
    } catch {
      throw new Error(`${flag} ${target}: the folder ${parent} does not exist or is not writable`);
    }
    // The staging folders of runs killed with kill -9 are removed first (../io/stale_temps).
    removeStaleFolders(parent, (base) => base === path.basename(abs));
    const tmp = path.join(parent, tempFolderName(path.basename(abs)));
    fs.mkdirSync(tmp);
    return new StagedFolder(abs, tmp);
  }

  /** A path inside the staging folder, its parent folders created. */
  file(...parts: string[]): string {
    const p = path.join(this.tmp, ...parts);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    return p;
  }

  commit(): void {
    if (fs.existsSync(this.target)) fs.rmdirSync(this.target);
    fs.renameSync(this.tmp, this.target);
  }

  discard(): void {
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}
