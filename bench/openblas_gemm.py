"""Times OpenBLAS sgemm (through NumPy) on the GEMM shapes bench/openblas.ts
asks for, one call per request, so that its runs interleave with hgad's in one
benchmark run.

Protocol (one line each way):
  start:  prints {"ok": true, "core": ..., "version": ..., "threads": ...} or {"ok": false, "reason": ...}
  stdin:  "transA transB M N K"  (0/1 flags; the arrays are made once per shape)
  stdout: the seconds of one C = op(A) op(B) call (numpy.matmul into a
          preallocated C: transposed operands are passed as flags, no copy)

The kernel OpenBLAS runs is its own choice (dynamic arch) unless
OPENBLAS_CORETYPE forces one; the core it chose is reported at start
(threadpoolctl, else openblas_get_corename).
"""
import ctypes
import json
import sys
import time


def core_info():
    try:
        import threadpoolctl

        for lib in threadpoolctl.threadpool_info():
            if lib.get("internal_api") == "openblas":
                return lib.get("architecture"), lib.get("version"), lib.get("num_threads"), lib.get("filepath")
    except ImportError:
        pass
    return None, None, None, None


def corename_from_library(path):
    try:
        lib = ctypes.CDLL(path)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None


def main():
    try:
        import numpy as np
    except ImportError as e:
        print(json.dumps({"ok": False, "reason": f"numpy is not installed ({e})"}), flush=True)
        return
    core, version, threads, path = core_info()
    if core is None and path:
        core = corename_from_library(path)
    if core is None:
        print(json.dumps({"ok": False, "reason": "numpy is not linked against OpenBLAS"}), flush=True)
        return
    print(json.dumps({"ok": True, "core": core, "version": version, "threads": threads, "numpy": np.__version__}), flush=True)

    rng = np.random.default_rng(7)
    cache = {}
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        ta, tb, M, N, K = (int(p) for p in parts)
        key = (ta, tb, M, N, K)
        if key not in cache:
            A = rng.standard_normal((K, M) if ta else (M, K), dtype=np.float32)
            B = rng.uniform(-0.05, 0.05, (N, K) if tb else (K, N)).astype(np.float32)
            cache[key] = (A.T if ta else A, B.T if tb else B, np.empty((M, N), np.float32))
        a, b, c = cache[key]
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        print(repr(time.perf_counter() - t0), flush=True)


if __name__ == "__main__":
    main()
