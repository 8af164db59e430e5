#!/usr/bin/env python3
"""PyTorch side of hgad's benchmark comparison (bench/compare.ts drives it).

A self-contained PyTorch implementation of the HGAD model the way the reference
computes it (xcyao00/HGAD models/model.py with FrEIA's AllInOneBlock at commit
4e0c6ab): no downloads, no FrEIA import, only torch + the standard library.

Modes:
  --serve            line protocol on stdin/stdout (one JSON object per line),
                     used by bench/compare.ts to interleave hgad and torch runs:
                       {"op": "info"}       -> torch version, torch.version.cuda,
                                               device, device name, tf32 flag, BLAS
                       {"op": "setup", "scenario": S, "n": N, "seed": 0}
                                            -> {"ok": true, "n": N, "device": D}
                                               ("n" may be left out: the --bench
                                               default size of S on this device)
                       {"op": "run"}        -> {"t": seconds of one timed run}
                       {"op": "copy_bandwidth", "bytes": B}
                                            -> {"bytes": B, "t": median seconds of
                                               one copy, "gbps": 2*B/t/1e9, "runs": R}
                                               (dst.copy_(src) of B bytes on the
                                               device, read + write bytes counted;
                                               optional "runs", default 20)
                       {"op": "quit"}
  --check            runs the model in float64 on the golden vectors of
                     test/fixtures/golden (outputs of the real reference) and
                     prints the largest relative errors: proof that this file
                     computes the same model as the reference (always on the CPU).
  --bench            standalone: times the scenarios, then the device-to-device
                     copy bandwidth, and prints a table.
  --export-onnx PATH writes the score_paper model (flow + logp + negative
                     entropy for class 3, the paper configuration, seed 0) as
                     ONNX, opset 13, inputs x (N, C) and cond (N, P) with a
                     dynamic N, outputs logp (N) and neg_entropy (N), for
                     bench/onnx_compare.ts to time with onnxruntime-node.
Options: --threads N (torch.set_num_threads; default: HGAD_NUM_THREADS or the core count),
         --quick, --runs R, --warmup W,
         --device cpu|cuda (default cpu): where parameters, inputs and compute live.
             With cuda every timed run ends with torch.cuda.synchronize(), and the
             inputs are made once, resident on the device, before any timing (the
             scenarios time compute only), except score_paper_host, which uploads
             the host batch (.to('cuda')) and downloads the scores (.cpu()) in each
             run, as an end-to-end scoring call does. Without CUDA the script exits
             with status 2 and a one-line message on stderr.
         --tf32 (default off): torch.backends.cuda.matmul.allow_tf32 and
             torch.backends.cudnn.allow_tf32 are set to exactly this flag (False
             without it, so fp32 matmuls stay full fp32 on every torch version).
         --copy-bytes B: the size of the --bench copy-bandwidth line
             (default 1 GiB on cuda, 256 MiB on cpu).
Scenarios (paper configuration C=200, P=256, 12 couplings, clamp 1.9, K=15, M=10)
and --bench sizes N:
                         cpu     cpu --quick   cuda     cuda --quick
  flow_forward_paper     16384   2048          262144   65536
  score_paper            16384   2048          262144   65536
  score_paper_host       -       -             262144   65536
  train_step_paper       8192    1024          65536    16384
score_paper_host also runs on cpu through --serve (there the transfers are no-ops).
Model parameters and inputs are drawn on the CPU and then moved to the device:
the inputs, permutations and mixture centres from a generator seeded with "seed",
the subnet Linear layers by their default init from torch's global RNG.
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    sys.stderr.write('torch_compare.py: cannot import torch with %s (%s)\n' % (sys.executable, e))
    sys.exit(2)

SCENARIOS = ("flow_forward_paper", "score_paper", "train_step_paper")
# Scenarios --bench runs on each device; score_paper_host only makes sense with transfers.
BENCH_SCENARIOS = {
    'cpu': SCENARIOS,
    'cuda': ("flow_forward_paper", "score_paper", "score_paper_host", "train_step_paper"),
}
ALL_SCENARIOS = BENCH_SCENARIOS['cuda']
BENCH_SIZES = {
    ('cpu', False): {'flow_forward_paper': 16384, 'score_paper': 16384, 'score_paper_host': 16384, 'train_step_paper': 8192},
    ('cpu', True): {'flow_forward_paper': 2048, 'score_paper': 2048, 'score_paper_host': 2048, 'train_step_paper': 1024},
    ('cuda', False): {'flow_forward_paper': 262144, 'score_paper': 262144, 'score_paper_host': 262144, 'train_step_paper': 65536},
    ('cuda', True): {'flow_forward_paper': 65536, 'score_paper': 65536, 'score_paper_host': 65536, 'train_step_paper': 16384},
}
PAPER = dict(C=200, P=256, couplings=12, clamp=1.9, K=15, M=10)
GCONST = -0.9189385332046727  # ln(1/sqrt(2*pi))


# --------------------------------------------------------------------------
# FrEIA AllInOneBlock (4e0c6ab), the subset HGAD uses: 1-D input, one
# condition, SOFTPLUS global affine, soft (random orthogonal) permutation,
# no GIN, no reverse permutation, no householder.
class AllInOneBlock(nn.Module):
    def __init__(self, C, P, clamp, hidden=None, generator=None):
        super().__init__()
        self.C, self.P = C, P
        self.C1 = math.ceil(C / 2)  # FrEIA: splits = [ceil(C/2), floor(C/2)]
        self.C2 = C - self.C1
        self.clamp = clamp
        H = hidden if hidden is not None else 2 * (self.C1 + P)
        # HGAD's subnet_fc: Linear(dims_in, 2*dims_in) -> ReLU -> Linear(2*dims_in, dims_out)
        self.subnet = nn.Sequential(nn.Linear(self.C1 + P, H), nn.ReLU(), nn.Linear(H, 2 * self.C2))
        # global_affine_init = 1.0, SOFTPLUS: global_scale = 2 log(exp(0.5*10*1) - 1)
        self.global_scale = nn.Parameter(torch.full((1, C), 2.0 * math.log(math.exp(0.5 * 10.0 * 1.0) - 1.0)))
        self.global_offset = nn.Parameter(torch.zeros(1, C))
        self.softplus = nn.Softplus(beta=0.5)
        # permute_soft=True: a random special-orthogonal matrix (FrEIA uses scipy's
        # special_ortho_group; a sign-fixed QR of a Gaussian is the same Haar law up to det)
        q, r = torch.linalg.qr(torch.randn(C, C, dtype=torch.float64, generator=generator))
        q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
        if torch.det(q) < 0:
            q[:, 0] = -q[:, 0]
        self.w_perm = nn.Parameter(q.to(torch.get_default_dtype()), requires_grad=False)

    def global_scale_activation(self, a):
        return 0.1 * self.softplus(a)

    def _permute(self, x):
        scale = self.global_scale_activation(self.global_scale)
        return F.linear(x * scale + self.global_offset, self.w_perm), torch.sum(torch.log(scale))

    def _affine(self, x, a):
        a = a * 0.1  # FrEIA: a *= 0.1
        ch = x.shape[1]
        sub_jac = self.clamp * torch.tanh(a[:, :ch])
        return x * torch.exp(sub_jac) + a[:, ch:], torch.sum(sub_jac, dim=1)

    def forward(self, x, c):
        x1, x2 = torch.split(x, [self.C1, self.C2], dim=1)
        x1c = torch.cat([x1, c], 1) if c is not None else x1
        a1 = self.subnet(x1c)
        x2, j2 = self._affine(x2, a1)
        log_jac_det = j2
        x_out = torch.cat((x1, x2), 1)
        x_out, global_scaling_jac = self._permute(x_out)
        n_pixels = x_out[0, :1].numel()  # 1 for vectors
        log_jac_det = log_jac_det + n_pixels * global_scaling_jac
        return x_out, log_jac_det


class Flow(nn.Module):
    """FrEIA SequenceINN of AllInOneBlocks: z, sum of log|det J|."""

    def __init__(self, C, P, couplings, clamp, generator=None):
        super().__init__()
        self.blocks = nn.ModuleList([AllInOneBlock(C, P, clamp, generator=generator) for _ in range(couplings)])

    def forward(self, x, c):
        log_det_jac = 0
        for b in self.blocks:
            x, j = b(x, c)
            log_det_jac = j + log_det_jac
        return x, log_det_jac


# --------------------------------------------------------------------------
# HGAD mixture head (models/model.py and train.py validate()).
class HGADHead(nn.Module):
    def __init__(self, C, K, M, generator=None):
        super().__init__()
        self.C, self.K, self.M = C, K, M
        self.log_theta = nn.LogSigmoid()
        mu = torch.zeros(K, C)
        mu_delta = torch.zeros(K, M - 1, C)
        init_scale = 5.0 / math.sqrt(2 * C // K)
        for k in range(C // K):
            mu[:, K * k:K * (k + 1)] = init_scale * torch.eye(K)
        for class_id in range(K):
            mu_delta[class_id, :, :] += torch.randn(M - 1, C, generator=generator)
        self.mu = nn.Parameter(mu)
        self.mu_delta = nn.Parameter(mu_delta)
        self.phi_intra = nn.Parameter(torch.zeros(K, M))
        self.phi_inter = nn.Parameter(torch.zeros(K))

    @staticmethod
    def calculate_distances_to_inter_class_centers(z, mu):
        z_i_z_i = torch.sum(z ** 2, dim=1, keepdim=True)
        mu_j_mu_j = torch.sum(mu ** 2, dim=1).unsqueeze(0)
        z_i_mu_j = torch.mm(z, mu.t())
        return -2 * z_i_mu_j + z_i_z_i + mu_j_mu_j

    @staticmethod
    def calculate_distances_to_intra_class_centers(z, mu):
        num_classes, num_centers = mu.shape[0], mu.shape[1]
        z_i_z_i = torch.sum(z ** 2, dim=1, keepdim=True).unsqueeze(-1)
        mu_j_mu_j = torch.sum(mu ** 2, dim=2).unsqueeze(0)
        mu = mu.reshape(-1, mu.shape[2])
        z_i_mu_j = torch.mm(z, mu.t()).reshape(-1, num_classes, num_centers)
        return -2 * z_i_mu_j + z_i_z_i + mu_j_mu_j

    @staticmethod
    def get_logps(z, mu, log_py, logdet_J, C):
        z = z.unsqueeze(1)
        logps = torch.logsumexp(-0.5 * torch.sum((z - mu) ** 2, 2) + log_py, dim=1)
        return C * GCONST + logps + logdet_J

    def losses(self, z, log_jac_det, y, y_onehot, stage):
        """The reference HGAD.forward after the flow: batch means of the loss terms."""
        C = self.C
        losses = {}
        log_py_inter = torch.log_softmax(self.phi_inter, dim=0).view(1, -1)
        zz = self.calculate_distances_to_inter_class_centers(z, mu=self.mu)
        losses['L_g'] = (-torch.logsumexp(-0.5 * zz + log_py_inter, dim=1) - log_jac_det) / C
        if stage == 2:
            mu_per_scale = self.mu.detach().unsqueeze(1)
            mu_per_scale_ = mu_per_scale + self.mu_delta
            mu_per_scale = torch.cat([mu_per_scale, mu_per_scale_], dim=1)
            y = y.reshape(-1)
            mu_intra = mu_per_scale[y, :, :]
            log_py_intra = torch.log_softmax(self.phi_intra, dim=1).unsqueeze(0)
            zz2 = self.calculate_distances_to_intra_class_centers(z, mu=mu_per_scale)
            y_mask = y_onehot > 0.5
            log_py = log_py_intra[:, y, :].squeeze(0)
            zz_per_class = zz2[y_mask, :]
            losses['L_g_intra'] = (-torch.logsumexp(-0.5 * zz_per_class + log_py, dim=1) - log_jac_det) / C
            logps = self.get_logps(z, mu_intra, log_py, log_jac_det, C) / C
            losses['L_z'] = -self.log_theta(logps)
        entropy = torch.sum(-torch.softmax(-0.5 * zz, dim=1) * torch.log_softmax(-0.5 * zz, dim=1), dim=1)
        losses['L_e'] = entropy
        log_py_inter = log_py_inter.detach()
        losses['L_mi'] = torch.sum((torch.log_softmax(-0.5 * zz + log_py_inter, dim=1) - log_py_inter) * y_onehot, dim=1)
        return {k: torch.mean(v) for k, v in losses.items()}

    @staticmethod
    def total(losses, lambda1, lambda2, stage):
        loss = lambda1 * losses['L_g'] - lambda2 * losses['L_mi'] + losses['L_e']
        if stage == 2:
            loss = loss + losses['L_g_intra'] + losses['L_z']
        return loss

    def score(self, z, log_jac_det, class_id):
        """train.py validate() for one class id: (logp / C, -entropy) per vector."""
        C = self.C
        mu_per_scale = self.mu.unsqueeze(1)
        mu_per_scale = torch.cat([mu_per_scale, mu_per_scale + self.mu_delta], dim=1)
        mu_intra = mu_per_scale[class_id:class_id + 1, :, :]
        mu_intra = mu_intra.expand([z.shape[0], mu_intra.shape[1], C])
        log_py_intra = torch.log_softmax(self.phi_intra, dim=1).unsqueeze(0)
        log_py = log_py_intra[:, class_id:class_id + 1, :].squeeze(0)
        log_py = log_py.expand([z.shape[0], log_py.shape[1]])
        logps = self.get_logps(z, mu_intra, log_py, log_jac_det, C) / C
        zz = self.calculate_distances_to_inter_class_centers(z, mu=self.mu)
        logits = -0.5 * zz
        entropy = -torch.sum(-torch.softmax(logits, dim=1) * torch.log_softmax(logits, dim=1), dim=1)
        return logps, entropy


def make_optimizer(flow, head, lr=1e-3):
    """The reference's parameter groups (lr 1e-3 here, as hgad's bench)."""
    groups = [
        {'params': [p for p in flow.parameters() if p.requires_grad]},
        {'params': [head.mu, head.mu_delta], 'lr': lr * 3.0, 'weight_decay': 0.0, 'betas': [0.95, 0.99]},
        {'params': [head.phi_intra, head.phi_inter], 'lr': lr * 1.0, 'weight_decay': 0.0, 'betas': [0.95, 0.99]},
    ]
    return torch.optim.Adam(groups, lr, betas=[0.95, 0.99], weight_decay=1e-4)


def smoothed_onehot(y, K, smoothing):
    oh = F.one_hot(y, K).to(torch.get_default_dtype())
    return (1.0 - smoothing) * oh + smoothing / K


# --------------------------------------------------------------------------
# Scenarios
class Scenario:
    def __init__(self, name, n, seed=0, device='cpu'):
        if name not in ALL_SCENARIOS:
            raise ValueError('unknown scenario ' + name)
        self.name, self.n = name, n
        self.device = torch.device(device)
        self.cuda = self.device.type == 'cuda'
        p = PAPER
        g = torch.Generator().manual_seed(seed)
        self.flow = Flow(p['C'], p['P'], p['couplings'], p['clamp'], generator=g).to(self.device)
        self.head = HGADHead(p['C'], p['K'], p['M'], generator=g).to(self.device)
        x = torch.randn(n, p['C'], generator=g)
        cond = torch.rand(n, p['P'], generator=g) * 2 - 1
        if name == 'score_paper_host':
            # host batch, made once; each run uploads it and downloads the scores
            self.x_host, self.cond_host = x.contiguous(), cond.contiguous()
        else:
            self.x, self.cond = x.to(self.device), cond.to(self.device)
        if name == 'train_step_paper':
            self.y = torch.randint(0, p['K'], (n,), generator=g).to(self.device)
            self.y_onehot = smoothed_onehot(self.y, p['K'], 0.02)
            self.opt = make_optimizer(self.flow, self.head)  # after .to(): the optimizer holds the device parameters
        self.sink = None
        self.sync()  # setup work finished before the first timing

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def run(self):
        name = self.name
        if name == 'flow_forward_paper':
            with torch.no_grad():
                z, ld = self.flow(self.x, self.cond)
            self.sink = (z, ld)
        elif name == 'score_paper':
            with torch.no_grad():
                z, ld = self.flow(self.x, self.cond)
                self.sink = self.head.score(z, ld, 3)
        elif name == 'score_paper_host':
            with torch.no_grad():
                x = self.x_host.to(self.device, non_blocking=False)
                cond = self.cond_host.to(self.device, non_blocking=False)
                z, ld = self.flow(x, cond)
                logp, negent = self.head.score(z, ld, 3)
                self.sink = (logp.cpu(), negent.cpu())
        else:
            self.opt.zero_grad(set_to_none=True)
            z, ld = self.flow(self.x, self.cond)
            losses = self.head.losses(z, ld, self.y, self.y_onehot, 2)
            loss = HGADHead.total(losses, 1.0, 100.0, 2)
            loss.backward()
            self.opt.step()
            self.sink = float(loss)

    def timed(self):
        self.sync()
        t0 = time.perf_counter()
        self.run()
        self.sync()  # the time includes the queued device work
        return time.perf_counter() - t0


def median(ts):
    ts = sorted(ts)
    return ts[len(ts) // 2] if len(ts) % 2 else 0.5 * (ts[len(ts) // 2 - 1] + ts[len(ts) // 2])


def copy_bandwidth(device, nbytes, runs=20, warmup=3):
    """dst.copy_(src) of nbytes bytes on the device; bandwidth counts read + write (2*nbytes per copy)."""
    nbytes, runs = int(nbytes), max(1, int(runs))
    if nbytes <= 0:
        raise ValueError('bytes must be positive')
    device = torch.device(device)
    src = torch.empty(nbytes, dtype=torch.uint8, device=device)
    src.fill_(1)
    dst = torch.empty_like(src)
    ts = []
    if device.type == 'cuda':
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        for _ in range(warmup):
            dst.copy_(src)
        torch.cuda.synchronize(device)
        for _ in range(runs):
            start.record()
            dst.copy_(src)
            end.record()
            end.synchronize()
            ts.append(start.elapsed_time(end) * 1e-3)
    else:
        for _ in range(warmup):
            dst.copy_(src)
        for _ in range(runs):
            t0 = time.perf_counter()
            dst.copy_(src)
            ts.append(time.perf_counter() - t0)
    t = median(ts)
    del src, dst
    return {'bytes': nbytes, 't': t, 'gbps': 2.0 * nbytes / t / 1e9, 'runs': runs}


def cpu_name():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return 'unknown'


def info(threads, device='cpu', tf32=False):
    d = {
        'torch': torch.__version__,
        'torch_cuda': torch.version.cuda,
        'torch_file': torch.__file__,
        'python': sys.executable,
        'device': device,
        'tf32': bool(tf32),
        'threads': torch.get_num_threads(),
        'requested_threads': threads,
        'interop_threads': torch.get_num_interop_threads(),
        'env': {k: os.environ[k] for k in sorted(os.environ) if k.startswith(('OPENBLAS', 'OMP_', 'MKL_', 'GOMP'))},
        'blas': blas_info(),
        'blas_library': blas_library(),
    }
    if device == 'cuda':
        props = torch.cuda.get_device_properties(0)
        d.update({
            'device_name': torch.cuda.get_device_name(0),
            'device_capability': '%d.%d' % (props.major, props.minor),
            'device_memory_bytes': props.total_memory,
            'cudnn': torch.backends.cudnn.version(),
            'allow_tf32_matmul': torch.backends.cuda.matmul.allow_tf32,
            'allow_tf32_cudnn': torch.backends.cudnn.allow_tf32,
        })
    else:
        d['device_name'] = cpu_name()
    return d


def blas_library():
    """The libblas / OpenBLAS actually mapped into this process (BLAS_INFO=generic says only 'some libblas.so.3')."""
    try:
        libs = set()
        with open('/proc/self/maps') as f:
            for line in f:
                p = line.split()[-1]
                if ('blas' in p.lower()) and p.startswith('/'):
                    libs.add(os.path.realpath(p))
        return ', '.join(sorted(libs)) or 'none mapped'
    except OSError:
        return 'unknown'


def blas_info():
    cfg = torch.__config__.show()
    for line in cfg.splitlines():
        if 'BLAS_INFO' in line:
            return line.strip().split('BLAS_INFO=')[-1].split(',')[0]
    return 'unknown'


def serve(threads, device='cpu', tf32=False):
    scenario = None
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            op = req.get('op')
            if op == 'info':
                resp = info(threads, device, tf32)
            elif op == 'setup':
                scenario = None
                if device == 'cuda':
                    torch.cuda.empty_cache()  # the previous scenario's buffers go back before the next allocates
                name = req['scenario']
                n = req.get('n')
                n = int(n) if n is not None else BENCH_SIZES[(device, False)].get(name, 0)
                scenario = Scenario(name, n, int(req.get('seed', 0)), device)
                resp = {'ok': True, 'n': n, 'device': device}
            elif op == 'run':
                if scenario is None:
                    raise RuntimeError('run before setup')
                resp = {'t': scenario.timed()}
            elif op == 'copy_bandwidth':
                resp = copy_bandwidth(device, req['bytes'], req.get('runs', 20))
            elif op == 'quit':
                print(json.dumps({'ok': True}), flush=True)
                return
            else:
                resp = {'error': 'unknown op %r' % op}
        except Exception as e:  # reported to the driver, which stops
            resp = {'error': '%s: %s' % (type(e).__name__, e)}
        print(json.dumps(resp), flush=True)


# --------------------------------------------------------------------------
# --check: the model above against the reference's golden outputs (float64).
def check(golden_dir):
    torch.set_default_dtype(torch.float64)
    worst = 0.0
    for case in ('cond_d32_p16', 'odd_d27_uncond', 'cond_d64_p32_k6'):
        path = os.path.join(golden_dir, case + '.json.gz')
        if not os.path.exists(path):
            print('check: %s missing, skipped' % path)
            continue
        d = json.load(gzip.open(path))
        cfg = d['config']
        t = lambda o: torch.tensor(o['data'], dtype=torch.float64).reshape(o['shape'])
        C, P = cfg['dim'], cfg['cond_dim']
        flow = Flow(C, P, cfg['coupling_layers'], cfg['clamp_alpha'])
        for blk, prm in zip(flow.blocks, d['params']['flow']):
            with torch.no_grad():
                blk.w_perm.copy_(t(prm['w_perm']))
                blk.global_scale.copy_(t(prm['global_scale']).view(1, -1))
                blk.global_offset.copy_(t(prm['global_offset']).view(1, -1))
                blk.subnet[0].weight.copy_(t(prm['w1']))
                blk.subnet[0].bias.copy_(t(prm['b1']))
                blk.subnet[2].weight.copy_(t(prm['w2']))
                blk.subnet[2].bias.copy_(t(prm['b2']))
        head = HGADHead(C, cfg['n_classes'], cfg['n_intra_centers'])
        with torch.no_grad():
            head.mu.copy_(t(d['params']['mu']))
            head.mu_delta.copy_(t(d['params']['mu_delta']))
            head.phi_inter.copy_(t(d['params']['phi_inter']))
            head.phi_intra.copy_(t(d['params']['phi_intra']))
        x = t(d['inputs']['x']).requires_grad_(True)
        cond = t(d['inputs']['cond']) if P > 0 else None
        y = t(d['inputs']['y']).round().long()
        y_onehot = t(d['inputs']['y_onehot'])
        errs = {}

        def cmp(name, got, want):
            want = want if torch.is_tensor(want) else torch.tensor(want, dtype=torch.float64)
            got = got.detach().reshape(want.shape)
            errs[name] = float((got - want).abs().max() / want.abs().max().clamp_min(1e-12))

        out = d['outputs']
        for stage in (1, 2):
            x.grad = None
            for p in list(flow.parameters()) + list(head.parameters()):
                p.grad = None
            z, ld = flow(x, cond)
            if stage == 1:
                cmp('z', z, t(out['z']))
                cmp('logdet', ld, t(out['logdet']))
            losses = head.losses(z, ld, y, y_onehot, stage)
            loss = HGADHead.total(losses, cfg['lambda1'], cfg['lambda2'], stage)
            so = out['stage%d' % stage]
            cmp('stage%d.loss' % stage, loss, so['loss'])
            for k, v in so['losses'].items():
                cmp('stage%d.%s' % (stage, k), losses[k], v)
            loss.backward()
            cmp('stage%d.grad.x' % stage, x.grad, t(so['grads']['x']))
            for name, prm in (('mu', head.mu), ('phi_inter', head.phi_inter), ('mu_delta', head.mu_delta), ('phi_intra', head.phi_intra)):
                if name in so['grads']:
                    cmp('stage%d.grad.%s' % (stage, name), prm.grad, t(so['grads'][name]))
            gflow = so['grads'].get('flow')
            if gflow:
                for i, (blk, gb) in enumerate(zip(flow.blocks, gflow)):
                    for name, prm in (('w1', blk.subnet[0].weight), ('b1', blk.subnet[0].bias), ('w2', blk.subnet[2].weight),
                                      ('b2', blk.subnet[2].bias), ('global_scale', blk.global_scale), ('global_offset', blk.global_offset)):
                        if name in gb:
                            cmp('stage%d.grad.flow[%d].%s' % (stage, i, name), prm.grad, t(gb[name]))
        with torch.no_grad():
            z, ld = flow(x, cond)
            logp, negent = head.score(z, ld, out['score']['class_id'])
        cmp('score.logp', logp, t(out['score']['logp']))
        cmp('score.neg_entropy', negent, t(out['score']['neg_entropy']))
        name, err = max(errs.items(), key=lambda kv: kv[1])
        worst = max(worst, err)
        print('check %-16s %3d quantities, max relative error %.2e (%s)' % (case, len(errs), err, name))
    ok = worst < 1e-6
    print('check: %s (worst %.2e)' % ('OK: matches the reference golden vectors' if ok else 'MISMATCH', worst))
    return ok


def bench(args):
    device = args.device
    sizes = BENCH_SIZES[(device, bool(args.quick))]
    for name in BENCH_SCENARIOS[device]:
        sc = Scenario(name, sizes[name], device=device)
        for _ in range(args.warmup):
            sc.run()
        sc.sync()
        med = median(sc.timed() for _ in range(args.runs))
        print('%-20s N=%-6d median %.4f s  %10.0f vectors/s' % (name, sizes[name], med, sizes[name] / med), flush=True)
        del sc
        if device == 'cuda':
            torch.cuda.empty_cache()
    nbytes = args.copy_bytes or (1 << 30 if device == 'cuda' else 1 << 28)
    cb = copy_bandwidth(device, nbytes)
    print('%-20s B=%-10d median %.6f s  %8.1f GB/s (read+write, 2*B per copy)' % ('copy_bandwidth', cb['bytes'], cb['t'], cb['gbps']), flush=True)


class ScoreModel(nn.Module):
    """score_paper as one graph: the flow, then the class's logp and -entropy."""

    def __init__(self, flow, head, class_id):
        super().__init__()
        self.flow, self.head, self.class_id = flow, head, class_id

    def forward(self, x, cond):
        z, ld = self.flow(x, cond)
        return self.head.score(z, ld, self.class_id)


def export_onnx(path, seed=0):
    p = PAPER
    g = torch.Generator().manual_seed(seed)
    flow = Flow(p['C'], p['P'], p['couplings'], p['clamp'], generator=g)
    head = HGADHead(p['C'], p['K'], p['M'], generator=g)
    model = ScoreModel(flow, head, 3).eval()
    x = torch.randn(64, p['C'], generator=g)
    cond = torch.rand(64, p['P'], generator=g) * 2 - 1
    with torch.no_grad():
        torch.onnx.export(model, (x, cond), path, opset_version=13, input_names=['x', 'cond'],
                          output_names=['logp', 'neg_entropy'],
                          dynamic_axes={'x': {0: 'N'}, 'cond': {0: 'N'}, 'logp': {0: 'N'}, 'neg_entropy': {0: 'N'}})
    print(json.dumps({'ok': True, 'path': path, 'torch': torch.__version__, 'opset': 13}))


def require_cuda():
    """--device cuda without a usable CUDA device: one line on stderr, exit status 2."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # torch may warn (driver too old, ...) before answering False
        try:
            ok = torch.cuda.is_available() and torch.cuda.device_count() > 0
        except Exception:
            ok = False
    if not ok:
        why = 'this torch is built without CUDA' if torch.version.cuda is None else 'no CUDA device is visible'
        sys.stderr.write('torch_compare.py: --device cuda: CUDA is not available (%s; torch %s)\n' % (why, torch.__version__))
        sys.stderr.flush()
        sys.exit(2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--serve', action='store_true')
    ap.add_argument('--check', action='store_true')
    ap.add_argument('--bench', action='store_true')
    ap.add_argument('--threads', type=int, default=int(os.environ.get('HGAD_NUM_THREADS', '0')) or os.cpu_count())
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    ap.add_argument('--tf32', action='store_true')
    ap.add_argument('--copy-bytes', type=int, default=0)
    ap.add_argument('--export-onnx', metavar='PATH')
    ap.add_argument('--golden', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'golden'))
    args = ap.parse_args()
    if args.device == 'cuda':
        require_cuda()
    # exactly the --tf32 value, on every device (some torch versions default to True)
    torch.backends.cuda.matmul.allow_tf32 = bool(args.tf32)
    torch.backends.cudnn.allow_tf32 = bool(args.tf32)
    torch.set_num_threads(args.threads)
    if args.export_onnx:
        export_onnx(args.export_onnx)
        return
    if args.check:
        sys.exit(0 if check(args.golden) else 1)
    if args.serve:
        serve(args.threads, args.device, args.tf32)
        return
    if args.bench:
        print(json.dumps(info(args.threads, args.device, args.tf32)))
        bench(args)
        return
    ap.print_help()


if __name__ == '__main__':
    main()
