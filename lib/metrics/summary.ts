// Per-class localisation metrics, their mean over classes (the number the
// MVTec AD literature reports), and the JSON form the CLI writes.
import type { LocalisationMetrics } from './localisation';

const RATES = ['imageAuroc', 'pixelAuroc', 'aupro', 'imageF1Max', 'pixelF1Max'] as const;

/**
 * The mean over classes of each rate (classes where a rate is undefined, NaN,
 * are left out of that rate's mean); counts are summed.
 */
export function meanOverClasses(perClass: Record<string, LocalisationMetrics>): LocalisationMetrics {
  const all = Object.values(perClass);
  const mean = { nNormal: 0, nAnomalous: 0, regions: 0 } as LocalisationMetrics;
  for (const key of RATES) {
    let sum = 0;
    let count = 0;
    for (const m of all) {
      if (Number.isFinite(m[key])) {
        sum += m[key];
        ++count;
      }
    }
    mean[key] = count ? sum / count : NaN;
  }
  for (const m of all) {
    mean.nNormal += m.nNormal;
    mean.nAnomalous += m.nAnomalous;
    mean.regions += m.regions;
  }
  return mean;
}

const plural = (k: number) => `${k} class${k === 1 ? '' : 'es'}`;

/**
 * One line of the means with the classes each actually averages: "mean over
 * 2 classes: image AUROC 0.778, ..." when every class defines every rate;
 * a rate some class leaves undefined says how many classes it averages and
 * which were undefined ("mean over 1 class: image AUROC 0.778 (undefined for
 * pullover), pixel AUROC 0.912 (over 2 classes), ...").
 */
export function describeMean(perClass: Record<string, LocalisationMetrics>): string {
  const names = Object.keys(perClass);
  const mean = meanOverClasses(perClass);
  const defined = (key: (typeof RATES)[number]) => names.filter((c) => Number.isFinite(perClass[c][key]));
  const head = defined('imageAuroc').length;
  const rate = (label: string, key: (typeof RATES)[number]) => {
    const used = defined(key);
    const value = Number.isFinite(mean[key]) ? mean[key].toFixed(3) : 'undefined';
    const notes: string[] = [];
    if (used.length !== head) notes.push(`over ${plural(used.length)}`);
    if (used.length < names.length) notes.push(`undefined for ${names.filter((c) => !used.includes(c)).join(', ')}`);
    return `${label} ${value}${notes.length ? ` (${notes.join('; ')})` : ''}`;
  };
  return `mean over ${plural(head)}: ${rate('image AUROC', 'imageAuroc')}, ${rate('pixel AUROC', 'pixelAuroc')}, ${rate('AUPRO', 'aupro')}`;
}

export interface MetricsJsonRow {
  image_auroc: number | null;
  pixel_auroc: number | null;
  aupro: number | null;
  image_f1_max: number | null;
  pixel_f1_max: number | null;
  n_normal: number;
  n_anomalous: number;
}

const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** snake_case row of the metrics file; an undefined rate is null. */
export function metricsJsonRow(m: LocalisationMetrics): MetricsJsonRow {
  return {
    image_auroc: finiteOrNull(m.imageAuroc),
    pixel_auroc: finiteOrNull(m.pixelAuroc),
    aupro: finiteOrNull(m.aupro),
    image_f1_max: finiteOrNull(m.imageF1Max),
    pixel_f1_max: finiteOrNull(m.pixelF1Max),
    n_normal: m.nNormal,
    n_anomalous: m.nAnomalous,
  };
}

/** `{"classes": {name: row}, "mean": row, "score": kind}` */
export function metricsJson(perClass: Record<string, LocalisationMetrics>, score: string) {
  const classes: Record<string, MetricsJsonRow> = {};
  for (const [name, m] of Object.entries(perClass)) classes[name] = metricsJsonRow(m);
  return { classes, mean: metricsJsonRow(meanOverClasses(perClass)), score };
}
