#!/usr/bin/env python3
"""Writes test/fixtures/resize/pyramid_resize.json: random (1, 3, S, S) images
and PyTorch's F.interpolate(x, scale_factor=f, mode='bilinear',
align_corners=True) of them at the pyramid's scales 1/2 and 1/4 (the
reference's Encoder.forward), for odd and even S. test/images.resize.test.ts
compares lib/images/backbone.ts's resizeBilinear with it. PyTorch is needed
only to regenerate the fixture (Debian: apt-get install python3-torch, then
/usr/bin/python3 scripts/make_resize_fixture.py); never at run time.
"""
import json
import os

import torch
import torch.nn.functional as F

SIZES = [5, 7, 8, 13, 16, 17]
SCALES = [0.5, 0.25]


def main():
    torch.manual_seed(0)
    cases = []
    for S in SIZES:
        x = torch.randn(1, 3, S, S, dtype=torch.float32)
        for f in SCALES:
            y = F.interpolate(x, scale_factor=f, mode='bilinear', align_corners=True)
            cases.append({
                'size': S,
                'scale': f,
                'out': y.shape[-1],
                'input': [float(v) for v in x.flatten().tolist()],
                'output': [float(v) for v in y.flatten().tolist()],
            })
    out = {
        'about': "F.interpolate(x, scale_factor, mode='bilinear', align_corners=True), float32, torch " + torch.__version__,
        'cases': cases,
    }
    path = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'resize', 'pyramid_resize.json')
    tmp = path + '.tmp'
    with open(tmp, 'w') as fh:
        json.dump(out, fh, separators=(',', ':'))
        fh.write('\n')
    os.replace(tmp, path)
    print(f'wrote {len(cases)} cases to {os.path.normpath(path)}')


if __name__ == '__main__':
    main()
