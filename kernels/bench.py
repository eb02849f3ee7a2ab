"""Speed of kernels.normalize against torch.nn.functional in the same process, as ratios
(kernels time / torch time; 1.0 = as fast as torch, 2.0 = twice as slow).

    python -m kernels.bench [--shapes 8,16,16,16 32,64,32,32] [--repeats 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial

from .backend import torch_or_none
from .core import normalize
from .inputs import generate


def torch_references(torch):
    """Method name -> the torch.nn.functional call it equals (NCHW input)."""
    F = torch.nn.functional

    def channels_last(fn):
        return lambda x: fn(x.movedim(1, -1)).movedim(-1, 1)

    return {
        "batch": lambda x: F.batch_norm(x, None, None, training=True),
        "layer": lambda x: F.layer_norm(x, x.shape[1:]),
        "instance": lambda x: F.instance_norm(x),
        "group": lambda x: F.group_norm(x, min(32, x.shape[1])),
        "rms": lambda x: F.rms_norm(x, x.shape[1:]),
        "lrn": lambda x: F.local_response_norm(x, 5),
        "pixel": channels_last(lambda t: F.rms_norm(t, t.shape[-1:], eps=1e-8)),
        "channel": channels_last(lambda t: F.layer_norm(t, t.shape[-1:])),
    }


def best_ms(fn, repeats: int) -> float:
    """The fastest of `repeats` runs after one warm-up, in milliseconds (least disturbed by other load)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=["8,16,16,16", "32,64,32,32", "32,64,64,64"])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    torch = torch_or_none()
    if torch is None:
        print("torch is not installed: there is nothing to compare against")
        return 1
    refs = torch_references(torch)
    print(f"kernels.normalize time / torch.nn.functional time, best of {args.repeats}, float32, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads")
    print(f"{'method':>9} {'shape':>18} {'torch ms':>9} {'numpy ×':>8} {'torch-backend ×':>16}")
    for text in args.shapes:
        shape = tuple(int(v) for v in text.split(","))
        x = generate("normal", shape, seed=0)
        t = torch.from_numpy(x)
        for name, ref in refs.items():
            params = {"groups": min(32, shape[1])} if name == "group" else {}
            base = best_ms(partial(ref, t), args.repeats)
            ours_np = best_ms(partial(normalize, x, name, **params), args.repeats)
            ours_t = best_ms(partial(normalize, t, name, backend="torch", **params), args.repeats)
            print(f"{name:>9} {str(shape):>18} {base:9.2f} {ours_np / base:8.2f} {ours_t / base:16.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
