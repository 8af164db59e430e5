#!/usr/bin/python3
"""Independent reference values for the anomaly maps and localisation metrics.

Writes into test/fixtures/metrics/:
- localisation_cases.json.gz: random masks and anomaly maps (with ties,
  diagonal-touching regions, images without defects) and, per case, what
  scikit-learn and a direct threshold sweep over scipy's 8-connected
  components give for image/pixel AUROC, F1-max and AUPRO;
- maps_chain.json.gz: the whole evaluation chain of the reference
  (train.py validate + convert_to_anomaly_scores, run here with PyTorch's
  F.interpolate and scipy's gaussian_filter in float64): per-level logp and
  negative-entropy maps of a class's test set, the logp map, the entropy map,
  their fused product, image scores and every metric against masks.

The AUPRO here is deliberately the slow, literal definition (one pass over
all pixels per distinct threshold), so that it shares nothing with the
sort-once implementation it checks.

Run with Debian's python3 (scipy, scikit-learn):
    /usr/bin/python3 scripts/make_metric_fixtures.py
"""
import gzip
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from sklearn.metrics import precision_recall_curve, roc_auc_score

FPR_LIMIT = 0.3
EIGHT = np.ones((3, 3), dtype=int)


def f1_max(labels, scores):
    precision, recall, _ = precision_recall_curve(labels, scores)
    denom = precision + recall
    f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0)
    return float(f1.max())


def aupro_literal(masks, maps, limit=FPR_LIMIT):
    regions = []
    for m in masks:
        lab, n = ndimage.label(m, structure=EIGHT)
        for r in range(1, n + 1):
            regions.append((len(regions), lab == r))
    normal = masks == 0
    n_normal = normal.sum()
    per_image_regions = []
    for i, m in enumerate(masks):
        lab, n = ndimage.label(m, structure=EIGHT)
        per_image_regions.append([lab == r for r in range(1, n + 1)])
    n_regions = sum(len(r) for r in per_image_regions)
    fprs, pros = [0.0], [0.0]
    for t in np.unique(maps)[::-1]:
        above = maps >= t
        fprs.append(float((above & normal).sum() / n_normal))
        overlap = 0.0
        for i, regs in enumerate(per_image_regions):
            for reg in regs:
                overlap += (above[i] & reg).sum() / reg.sum()
        pros.append(overlap / n_regions)
    fprs, pros = np.array(fprs), np.array(pros)
    area = 0.0
    for k in range(1, len(fprs)):
        x0, x1, y0, y1 = fprs[k - 1], fprs[k], pros[k - 1], pros[k]
        if x0 >= limit:
            break
        if x1 > limit:
            y1 = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
            x1 = limit
        area += (x1 - x0) * (y0 + y1) / 2
    return area / limit, n_regions


def random_mask(rng, h, w):
    mask = np.zeros((h, w), dtype=np.uint8)
    for _ in range(rng.integers(1, 4)):
        kind = rng.integers(0, 3)
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        if kind == 0:
            ry, rx = rng.integers(1, 5), rng.integers(1, 5)
            yy, xx = np.ogrid[:h, :w]
            mask[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 1
        elif kind == 1:
            # a diagonal line: one region only under 8-connectivity
            for k in range(rng.integers(3, 9)):
                y, x = cy + k, cx + k
                if 0 <= y < h and 0 <= x < w:
                    mask[y, x] = 1
        else:
            mask[cy, cx] = 1
    return mask


def make_case(rng, n_images, h, w, levels):
    masks = np.zeros((n_images, h, w), dtype=np.uint8)
    n_anomalous = max(1, n_images // 2)
    n_normal = n_images - n_anomalous
    for i in range(n_normal, n_images):
        masks[i] = random_mask(rng, h, w)
        if masks[i].sum() == 0:
            masks[i, 0, 0] = 1
    smooth = ndimage.gaussian_filter(rng.random((n_images, h, w)), sigma=(0, 1.5, 1.5))
    maps = smooth + 0.6 * masks * rng.random((n_images, h, w))
    # quantise so that many pixels tie
    maps = np.round(maps * levels) / levels
    image_scores = maps.reshape(n_images, -1).max(axis=1)
    image_labels = (masks.reshape(n_images, -1).max(axis=1) > 0).astype(int)
    assert n_normal > 0
    aupro, regions = aupro_literal(masks, maps)
    return {
        'masks': {'shape': list(masks.shape), 'data': masks.ravel().tolist()},
        'maps': {'shape': list(maps.shape), 'data': [float(v) for v in maps.ravel()]},
        'image_scores': {'shape': [n_images], 'data': [float(v) for v in image_scores]},
        'image_labels': image_labels.tolist(),
        'image_auroc': float(roc_auc_score(image_labels, image_scores)),
        'image_f1_max': f1_max(image_labels, image_scores),
        'pixel_auroc': float(roc_auc_score(masks.ravel(), maps.ravel())),
        'pixel_f1_max': f1_max(masks.ravel(), maps.ravel()),
        'aupro_fpr_limit': FPR_LIMIT,
        'aupro': float(aupro),
        'regions': int(regions),
    }


def convert_to_anomaly_scores(levels, msk_size):
    """train.py convert_to_anomaly_scores, verbatim in its arithmetic."""
    normal_map = []
    for logps in levels:
        logps = torch.tensor(logps, dtype=torch.double)
        logps -= torch.max(logps)
        probs = torch.exp(logps)
        normal_map.append(F.interpolate(probs.unsqueeze(1), size=msk_size, mode='bilinear',
                                        align_corners=True).squeeze(1).numpy())
    scores = np.zeros_like(normal_map[0])
    for m in normal_map:
        scores += m
    scores = scores.max() - scores
    for i in range(scores.shape[0]):
        scores[i] = ndimage.gaussian_filter(scores[i], sigma=4)
    return scores


def chain_case(rng, n_images, sizes, msk_size):
    masks = np.zeros((n_images, msk_size, msk_size), dtype=np.uint8)
    n_anomalous = n_images // 2
    for i in range(n_images - n_anomalous, n_images):
        masks[i] = random_mask(rng, msk_size, msk_size)
        if masks[i].sum() == 0:
            masks[i, msk_size // 2, msk_size // 2] = 1
    logps, negents = [], []
    for (h, w) in sizes:
        # lower likelihood where the mask is, seen through the level's resolution
        low = F.interpolate(torch.tensor(masks, dtype=torch.double).unsqueeze(1), size=(h, w), mode='area').squeeze(1).numpy()
        logps.append(-1.0 - 0.3 * rng.random((n_images, h, w)) - 2.0 * low)
        negents.append(-0.5 * rng.random((n_images, h, w)) - 1.0 * low)
    s_logp = convert_to_anomaly_scores(logps, msk_size)
    s_ent = convert_to_anomaly_scores(negents, msk_size)
    fused = s_logp * s_ent
    image_scores = fused.max(axis=(1, 2))
    image_labels = (masks.reshape(n_images, -1).max(axis=1) > 0).astype(int)
    aupro, regions = aupro_literal(masks, fused)
    tensor = lambda a: {'shape': list(a.shape), 'data': [float(v) for v in a.ravel()]}
    return {
        'mask_size': msk_size, 'gaussian_sigma': 4,
        'level_logps': [tensor(a) for a in logps],
        'level_neg_entropies': [tensor(a) for a in negents],
        'masks': {'shape': list(masks.shape), 'data': masks.ravel().tolist()},
        'logp_maps': tensor(s_logp), 'entropy_maps': tensor(s_ent), 'fused_maps': tensor(fused),
        'image_scores': tensor(image_scores),
        'image_auroc': float(roc_auc_score(image_labels, image_scores)),
        'image_f1_max': f1_max(image_labels, image_scores),
        'pixel_auroc': float(roc_auc_score(masks.ravel(), fused.ravel())),
        'pixel_f1_max': f1_max(masks.ravel(), fused.ravel()),
        'aupro': float(aupro), 'regions': int(regions),
    }


def write(path, payload):
    # mtime 0: the same seed gives byte-identical files
    with open(path, 'wb') as raw, gzip.GzipFile(fileobj=raw, mode='wb', mtime=0) as f:
        f.write(json.dumps(payload).encode())


def main():
    rng = np.random.default_rng(20261201)
    cases = [make_case(rng, n, h, w, q) for (n, h, w, q) in
             [(6, 16, 16, 10), (8, 20, 12, 25), (10, 24, 24, 50), (5, 9, 31, 5), (12, 16, 20, 1000)]]
    out = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'metrics')
    os.makedirs(out, exist_ok=True)
    payload = {'meta': {'generator': 'scripts/make_metric_fixtures.py',
                        'reference': 'scikit-learn roc_auc_score, precision_recall_curve; '
                                     'AUPRO by a literal per-threshold sweep over scipy.ndimage.label 8-connected regions'},
               'cases': cases}
    write(os.path.join(out, 'localisation_cases.json.gz'), payload)
    chain = {'meta': {'generator': 'scripts/make_metric_fixtures.py',
                      'reference': 'HGAD train.py validate/convert_to_anomaly_scores with torch F.interpolate '
                                   '(align_corners=True) and scipy gaussian_filter(sigma=4), float64; fusion = product'},
             'cases': [chain_case(rng, 6, [(8, 8), (4, 4)], 32), chain_case(rng, 5, [(12, 10), (6, 5), (3, 3)], 40)]}
    write(os.path.join(out, 'maps_chain.json.gz'), chain)


if __name__ == '__main__':
    main()
