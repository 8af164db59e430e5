"""Trains the demonstration backbone of hgad and exports it to ONNX.

Recipe (what `demo_backbone.onnx` next to this script was made with):
  data:   Fashion-MNIST training set (Debian's dataset-fashion-mnist, read from
          /usr/share/datasets/fashion-mnist), 60,000 images, 10 classes;
          each 28x28 image upsampled to 56x56 (bilinear), replicated to RGB,
          normalised with the ImageNet mean and std, as hgad preprocesses images;
          random horizontal flips.
  model:  four 3x3 conv + BatchNorm + ReLU stages, strides 2, 2, 2, 2
          (channels 16, 32, 64, 96), global average pooling, a linear layer to
          the 10 classes. The exported graph stops at the feature maps:
          outputs `stage2` (stride 4, 32 channels), `stage3` (stride 8, 64
          channels), `stage4` (stride 16, 96 channels), NCHW, any input size.
  train:  SGD, momentum 0.9, lr 0.05 with cosine decay, weight decay 5e-4,
          batch 128, 3 epochs, seed 0; BatchNorm folded into the convolutions
          by the export (eval mode).
Run:    /usr/bin/python3 scripts/backbone/train_demo_backbone.py [--epochs 3] [--out F.onnx]
Needs:  Debian's python3-torch and dataset-fashion-mnist (never needed at run time).
"""
import argparse
import gzip
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = '/usr/share/datasets/fashion-mnist'
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), 'rb') as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def stage(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DemoBackbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.stage1 = stage(3, 16)
        self.stage2 = stage(16, 32)
        self.stage3 = stage(32, 64)
        self.stage4 = stage(64, 96)
        self.head = nn.Linear(96, 10)

    def features(self, x):
        f1 = self.stage1(x)
        f2 = self.stage2(f1)
        f3 = self.stage3(f2)
        f4 = self.stage4(f3)
        return f2, f3, f4

    def forward(self, x):
        return self.head(self.features(x)[-1].mean(dim=(2, 3)))


class FeatureOutputs(nn.Module):
    """The exported graph: image in, the three feature maps out."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.features(x)


def batches(images, labels, size, train):
    order = torch.randperm(len(images)) if train else torch.arange(len(images))
    for start in range(0, len(images), size):
        idx = order[start:start + size]
        x = images[idx].float().div(255.0).unsqueeze(1)
        x = F.interpolate(x, size=(56, 56), mode='bilinear', align_corners=False)
        if train:
            flip = torch.rand(len(idx)) < 0.5
            x[flip] = x[flip].flip(3)
        x = (x.expand(-1, 3, -1, -1) - MEAN) / STD
        yield x, labels[idx]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'demo_backbone.onnx'))
    args = parser.parse_args()
    torch.manual_seed(0)
    train_x = torch.from_numpy(read_idx('train-images-idx3-ubyte.gz').copy())
    train_y = torch.from_numpy(read_idx('train-labels-idx1-ubyte.gz').astype(np.int64))
    test_x = torch.from_numpy(read_idx('t10k-images-idx3-ubyte.gz').copy())
    test_y = torch.from_numpy(read_idx('t10k-labels-idx1-ubyte.gz').astype(np.int64))

    net = DemoBackbone()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    steps = args.epochs * ((len(train_x) + 127) // 128)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for epoch in range(args.epochs):
        net.train()
        for x, y in batches(train_x, train_y, 128, True):
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        correct = 0
        with torch.no_grad():
            for x, y in batches(test_x, test_y, 500, False):
                correct += (net(x).argmax(1) == y).sum().item()
        print(f'epoch {epoch + 1}: last loss {loss.item():.3f}, test accuracy {correct / len(test_x):.4f}', flush=True)

    net.eval()
    torch.onnx.export(
        FeatureOutputs(net), torch.randn(1, 3, 64, 64), args.out,
        input_names=['image'], output_names=['stage2', 'stage3', 'stage4'],
        dynamic_axes={'image': {0: 'batch', 2: 'height', 3: 'width'},
                      'stage2': {0: 'batch', 2: 'h2', 3: 'w2'},
                      'stage3': {0: 'batch', 2: 'h3', 3: 'w3'},
                      'stage4': {0: 'batch', 2: 'h4', 3: 'w4'}},
        opset_version=13, do_constant_folding=True)
    print(f'wrote {args.out} ({os.path.getsize(args.out)} bytes)')


if __name__ == '__main__':
    main()
