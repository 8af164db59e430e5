// hgad eval: AUROC of anomaly scores against 0/1 ground truth, overall and
// per group of --labels (e.g. the class each vector was scored as).
import { ParsedArgs } from './args';
import { Command, jsonFlag, out } from './command';
import { CliError } from './errors';
import { readLabels, readScores } from './inputs';

export const evaluate: Command = {
  name: 'eval',
  summary: 'AUROC of anomaly scores against ground truth, overall and per class',
  usage: ['hgad eval --scores S.npy --truth T.npy [--labels L.npy] [--json]'],
  flags: [
    { name: 'scores', value: 'S.npy', required: true, help: 'anomaly scores (N,), higher = more anomalous (as written by hgad score)' },
    { name: 'truth', value: 'T.npy', required: true, help: 'ground truth (N,): 1 = anomalous, 0 = normal' },
    { name: 'labels', value: 'L.npy', help: 'a group id per score (N,), e.g. the class it was scored as: adds the AUROC of each group and their mean' },
    jsonFlag('the results'),
  ],
  run: runEval,
};

interface GroupResult {
  label: number;
  n: number;
  anomalous: number;
  /** null when the group lacks normal or anomalous entries. */
  auroc: number | null;
}

async function runEval(args: ParsedArgs): Promise<number> {
  const scoresFile = args.need('scores');
  const truthFile = args.need('truth');
  const labelsFile = args.string('labels');
  const json = args.flag('json');
  const scores = await readScores(scoresFile);
  const N = scores.length;
  const truth = await readLabels(truthFile, 'truth values', N, `score of ${scoresFile}`);
  const bad = truth.findIndex((v) => v !== 0 && v !== 1);
  if (bad >= 0) throw new CliError(`${truthFile}: truth values must be 0 (normal) or 1 (anomalous), found ${truth[bad]} at index ${bad}`);
  let anomalous = 0;
  for (let i = 0; i < N; ++i) anomalous += truth[i];
  if (anomalous === 0 || anomalous === N) {
    throw new CliError(`${truthFile}: the truth holds only ${anomalous === 0 ? '0s (normal)' : '1s (anomalous)'}; AUROC needs both`);
  }
  const { auroc } = await import('../metrics/auroc');
  const overall = auroc(scores, truth);

  let groups: GroupResult[] | undefined;
  let mean: number | null = null;
  if (labelsFile !== undefined) {
    const labels = await readLabels(labelsFile, 'labels', N, `score of ${scoresFile}`);
    const members = new Map<number, number[]>();
    for (let i = 0; i < N; ++i) {
      let m = members.get(labels[i]);
      if (!m) members.set(labels[i], (m = []));
      m.push(i);
    }
    groups = [...members.keys()]
      .sort((a, b) => a - b)
      .map((label) => {
        const idx = members.get(label)!;
        const s = Float64Array.from(idx, (i) => scores[i]);
        const t = Int32Array.from(idx, (i) => truth[i]);
        const a = t.reduce((x, y) => x + y, 0);
        return { label, n: idx.length, anomalous: a, auroc: a > 0 && a < idx.length ? auroc(s, t) : null };
      });
    const valid = groups.filter((g) => g.auroc !== null).map((g) => g.auroc!);
    mean = valid.length > 0 ? valid.reduce((x, y) => x + y, 0) / valid.length : null;
  }

  if (json) {
    const result: Record<string, unknown> = { auroc: overall, n: N, anomalous };
    if (groups) {
      result.perClass = groups;
      result.meanPerClass = mean;
    }
    out(JSON.stringify(result, null, 2) + '\n');
    return 0;
  }
  const lines = [`AUROC ${overall.toFixed(4)}  (${N} scores: ${anomalous} anomalous, ${N - anomalous} normal)`];
  if (groups) {
    const width = Math.max(5, ...groups.map((g) => String(g.label).length));
    lines.push('', `${'class'.padEnd(width)}  ${'n'.padStart(7)}  ${'anomalous'.padStart(9)}  AUROC`);
    for (const g of groups) {
      const a = g.auroc === null ? `-  (needs both normal and anomalous)` : g.auroc.toFixed(4);
      lines.push(`${String(g.label).padEnd(width)}  ${String(g.n).padStart(7)}  ${String(g.anomalous).padStart(9)}  ${a}`);
    }
    const skipped = groups.filter((g) => g.auroc === null).length;
    lines.push(`${'mean'.padEnd(width)}  ${''.padStart(7)}  ${''.padStart(9)}  ${mean === null ? '-' : mean.toFixed(4)}${skipped ? `  (over ${groups.length - skipped} of ${groups.length} classes)` : ''}`);
  }
  out(lines.join('\n') + '\n');
  return 0;
}
