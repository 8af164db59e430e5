// A self-contained HTML report of a test run: one file, no network (inline
// CSS, inline SVG curves, PNG overlays as data: URLs): the per-class metric
// table, ROC and PRO curves per class, and the images a user should look at
// first: the highest-scored normal images (false alarms) and the
// lowest-scored anomalous ones (misses), with their heat maps.
import type { CurvePoints, LocalisationCurves, LocalisationMetrics } from '../metrics/localisation';

export interface ReportExample {
  /** file name or id shown under the image */
  name: string;
  /** 'good' or the defect type */
  defect: string;
  score: number;
  /** the heat-map overlay, PNG */
  png: Buffer;
}

export interface ReportClass {
  name: string;
  metrics: LocalisationMetrics;
  curves?: LocalisationCurves;
  /** highest-scored normal images, highest first */
  topNormal: ReportExample[];
  /** lowest-scored anomalous images, lowest first */
  bottomAnomalous: ReportExample[];
}

export interface ReportInput {
  title: string;
  /** which map/score produced the numbers */
  scoreKind: string;
  classes: ReportClass[];
  mean: LocalisationMetrics;
  /** free text lines under the title (model, data, date) */
  notes?: string[];
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const pct = (v: number) => (Number.isFinite(v) ? (100 * v).toFixed(1) : '–');

/** At most `max` points of a curve, evenly spaced along it, first and last kept. */
export function thinCurve(c: CurvePoints, max = 300): CurvePoints {
  const n = c.x.length;
  if (n <= max) return c;
  const x = new Float64Array(max);
  const y = new Float64Array(max);
  for (let k = 0; k < max; ++k) {
    const i = Math.round((k * (n - 1)) / (max - 1));
    x[k] = c.x[i];
    y[k] = c.y[i];
  }
  return { x, y };
}

interface Series {
  curve: CurvePoints;
  colour: string;
  label: string;
}

/** A square plot of curves in [0, xMax] x [0, 1]. */
function svgPlot(title: string, series: Series[], xLabel: string, yLabel: string, xMax = 1, marker?: number): string {
  const size = 220;
  const pad = 34;
  const sx = (v: number) => pad + (Math.min(v, xMax) / xMax) * size;
  const sy = (v: number) => pad + size - v * size;
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map((g) => `<line x1="${sx(g * xMax)}" y1="${sy(0)}" x2="${sx(g * xMax)}" y2="${sy(1)}" class="grid"/><line x1="${sx(0)}" y1="${sy(g)}" x2="${sx(xMax)}" y2="${sy(g)}" class="grid"/>` +
      `<text x="${sx(g * xMax)}" y="${sy(0) + 13}" class="tick" text-anchor="middle">${+(g * xMax).toFixed(3)}</text>` +
      `<text x="${sx(0) - 4}" y="${sy(g) + 4}" class="tick" text-anchor="end">${g}</text>`)
    .join('');
  const lines = series
    .map(({ curve, colour }) => {
      const c = thinCurve(curve);
      const pts: string[] = [];
      for (let i = 0; i < c.x.length; ++i) {
        if (c.x[i] > xMax && i > 0 && c.x[i - 1] > xMax) break;
        pts.push(`${sx(c.x[i]).toFixed(1)},${sy(c.y[i]).toFixed(1)}`);
      }
      return `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts.join(' ')}"/>`;
    })
    .join('');
  const legend = series.map((s, i) => `<text x="${pad + 8}" y="${pad + 14 + 14 * i}" fill="${s.colour}" class="legend">${escape(s.label)}</text>`).join('');
  const mark = marker !== undefined ? `<line x1="${sx(marker)}" y1="${sy(0)}" x2="${sx(marker)}" y2="${sy(1)}" class="marker"/>` : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size + pad * 2}" height="${size + pad * 2}" role="img" aria-label="${escape(title)}">` +
    `<text x="${pad + size / 2}" y="16" text-anchor="middle" class="title">${escape(title)}</text>${grid}` +
    `<rect x="${pad}" y="${pad}" width="${size}" height="${size}" class="frame"/>${mark}${lines}${legend}` +
    `<text x="${pad + size / 2}" y="${size + pad * 2 - 4}" text-anchor="middle" class="axis">${escape(xLabel)}</text>` +
    `<text x="10" y="${pad + size / 2}" transform="rotate(-90 10 ${pad + size / 2})" text-anchor="middle" class="axis">${escape(yLabel)}</text></svg>`;
}

function metricRow(name: string, m: LocalisationMetrics, bold = false): string {
  const cells = [m.imageAuroc, m.pixelAuroc, m.aupro, m.imageF1Max, m.pixelF1Max].map((v) => `<td>${pct(v)}</td>`).join('');
  const tag = bold ? 'th' : 'td';
  return `<tr><${tag} class="name">${escape(name)}</${tag}>${cells}<td>${m.nNormal}</td><td>${m.nAnomalous}</td></tr>`;
}

function gallery(title: string, examples: ReportExample[]): string {
  if (examples.length === 0) return '';
  const items = examples
    .map((e) => `<figure><img alt="${escape(e.name)}" src="data:image/png;base64,${e.png.toString('base64')}"/>` +
      `<figcaption>${escape(e.name)}<br/><span class="${e.defect === 'good' ? 'good' : 'bad'}">${escape(e.defect)}</span> · ${e.score.toPrecision(4)}</figcaption></figure>`)
    .join('');
  return `<h4>${escape(title)}</h4><div class="gallery">${items}</div>`;
}

function classSection(c: ReportClass, fprLimit: number): string {
  const plots = c.curves
    ? svgPlot('ROC', [
        { curve: c.curves.imageRoc, colour: '#1f77b4', label: `image ${pct(c.metrics.imageAuroc)}` },
        { curve: c.curves.pixelRoc, colour: '#d62728', label: `pixel ${pct(c.metrics.pixelAuroc)}` },
      ], 'false-positive rate', 'true-positive rate') +
      svgPlot(`PRO (AUPRO ${pct(c.metrics.aupro)})`, [{ curve: c.curves.pro, colour: '#2ca02c', label: `up to FPR ${fprLimit}` }], 'false-positive rate', 'per-region overlap', fprLimit)
    : '';
  return `<section><h3>${escape(c.name)}</h3><div class="plots">${plots}</div>` +
    gallery('Highest-scored normal images', c.topNormal) + gallery('Lowest-scored anomalous images', c.bottomAnomalous) + '</section>';
}

/** The report as one HTML string. */
export function renderReport(input: ReportInput, fprLimit = 0.3): string {
  const rows = input.classes.map((c) => metricRow(c.name, c.metrics)).join('') + metricRow('mean', input.mean, true);
  const notes = (input.notes ?? []).map((n) => `<p class="note">${escape(n)}</p>`).join('');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>${escape(input.title)}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h3{margin:28px 0 6px;border-bottom:1px solid #ddd}h4{margin:12px 0 6px;font-size:14px;color:#444}
.note{margin:2px 0;color:#555;font-size:13px}
table{border-collapse:collapse;margin:14px 0;font-size:14px}th,td{padding:4px 10px;text-align:right;border-bottom:1px solid #eee}
td.name,th.name{text-align:left}thead th{border-bottom:2px solid #999}
.plots svg{margin-right:12px}.grid{stroke:#eee}.frame{fill:none;stroke:#888}.marker{stroke:#aaa;stroke-dasharray:4 3}
.tick{font-size:10px;fill:#666}.axis{font-size:11px;fill:#444}.title{font-size:13px;font-weight:600}.legend{font-size:11px}
.gallery{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0;width:160px}figure img{width:160px;height:auto;image-rendering:pixelated;border:1px solid #ccc}
figcaption{font-size:11px;color:#444;word-break:break-all}.good{color:#2a7}.bad{color:#c33}
</style></head><body>
<h1>${escape(input.title)}</h1>${notes}<p class="note">Map and score: ${escape(input.scoreKind)}. Percentages; AUPRO integrated up to FPR ${fprLimit}.</p>
<table><thead><tr><th class="name">class</th><th>image AUROC</th><th>pixel AUROC</th><th>AUPRO</th><th>image F1-max</th><th>pixel F1-max</th><th>normal</th><th>anomalous</th></tr></thead>
<tbody>${rows}</tbody></table>
${input.classes.map((c) => classSection(c, fprLimit)).join('\n')}
</body></html>
`;
}
