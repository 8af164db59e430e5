// 8-connected components of binary masks: the ground-truth regions over which
// the per-region overlap (PRO) of the MVTec AD paper averages, as
// scipy.ndimage.label(mask, structure=np.ones((3, 3))) finds them.

/**
 * Labels the 8-connected components of every (height, width) mask of a stack.
 * masks: (n, height, width) of 0/1. Returns, per pixel, -1 for background or
 * the id of its region (numbered from 0 over the whole stack, image after
 * image, in raster order of each region's first pixel), and each region's size.
 */
export function labelRegions8(masks: Uint8Array, n: number, height: number, width: number): { region: Int32Array; sizes: Int32Array } {
  const area = height * width;
  const region = new Int32Array(n * area).fill(-1);
  const sizes: number[] = [];
  const stack = new Int32Array(area);
  for (let img = 0; img < n; ++img) {
    const base = img * area;
    for (let p = 0; p < area; ++p) {
      if (masks[base + p] === 0 || region[base + p] !== -1) continue;
      const id = sizes.length;
      let size = 0;
      let top = 0;
      stack[top++] = p;
      region[base + p] = id;
      while (top > 0) {
        const q = stack[--top];
        ++size;
        const y = (q / width) | 0;
        const x = q - y * width;
        for (let dy = -1; dy <= 1; ++dy) {
          const yy = y + dy;
          if (yy < 0 || yy >= height) continue;
          for (let dx = -1; dx <= 1; ++dx) {
            const xx = x + dx;
            if (xx < 0 || xx >= width) continue;
            const r = yy * width + xx;
            if (masks[base + r] !== 0 && region[base + r] === -1) {
              region[base + r] = id;
              stack[top++] = r;
            }
          }
        }
      }
      sizes.push(size);
    }
  }
  return { region, sizes: Int32Array.from(sizes) };
}
