// fitImages and fitFeatureMaps resolve the device before reading any data
// without creating a model to do it.
import test from 'ava';
import * as path from 'path';
import { HGAD } from '../lib/hgad';
import { fitFeatureMaps, fitImages } from '../lib/images/fit_images';
import { tempDir } from './helpers/mvtec';

const small = { imageSize: 32, condChannels: 8, couplings: 2, intraCentres: 2, metaEpochs: 1, subEpochs: 1, imagesPerBatch: 2 };

function countCreates(): { count: () => number; restore: () => void } {
  const original = HGAD.create;
  let n = 0;
  HGAD.create = function (...args: Parameters<typeof HGAD.create>): HGAD {
    ++n;
    return original.apply(HGAD, args);
  };
  return { count: () => n, restore: () => void (HGAD.create = original) };
}

test.serial('resolving the device creates no model: none is made before a data error', async (t) => {
  const spy = countCreates();
  try {
    const missing = path.join(tempDir(), 'absent');
    await t.throwsAsync(fitImages({ data: missing, cacheDir: tempDir(), ...small }), { message: /absent/ });
    t.is(spy.count(), 0, 'fitImages created a model before reading its data');
    await t.throwsAsync(fitFeatureMaps({ featureMaps: [path.join(missing, 'a.npy')], labels: Int32Array.from([0, 1]), classNames: ['x', 'y'], cacheDir: tempDir(), ...small }), {
      message: /a\.npy/,
    });
    t.is(spy.count(), 0, 'fitFeatureMaps created a model before reading its maps');
  } finally {
    spy.restore();
  }
});

test.serial('an unknown device is still refused before any data is read', async (t) => {
  const missing = path.join(tempDir(), 'absent');
  await t.throwsAsync(fitImages({ data: missing, cacheDir: tempDir(), ...small, device: 'tpu' as 'cpu' }), { message: /options\.device/ });
  await t.throwsAsync(fitFeatureMaps({ featureMaps: [path.join(missing, 'a.npy')], labels: Int32Array.from([0, 1]), classNames: ['x', 'y'], cacheDir: tempDir(), ...small, device: 'tpu' as 'cpu' }), {
    message: /options\.device/,
  });
});
