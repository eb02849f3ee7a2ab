"""Speed of opening real models and capturing activations, on a ResNet-50-sized network built here
(random weights with ResNet-50's tensor shapes, about 100 MB; nothing is downloaded).

    python -m kernels.models.bench [--batch 8] [--repeats 3] [--no-onnx]

Targets (issue 11): opening and listing under 2 s; capturing one layer's input for a batch of 8
images of 224×224 under 3 s. Times are the best of --repeats runs (least disturbed by other load).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

from ._common import ModelError


def best(fn, repeats: int) -> tuple:
    """(fastest seconds, last result) of `repeats` runs."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def listing(path, **kw):
    """Open a model and read everything the layer list shows (flags, table rows)."""
    from .model import open_model
    model = open_model(path, **kw)
    model.table()
    return model


def build_files(folder: Path, onnx: bool) -> dict:
    import torch

    from .architectures import resnet50

    torch.manual_seed(0)
    net = resnet50()
    with torch.no_grad():  # running statistics away from 0/1, as a trained network's
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.num_batches_tracked.fill_(1000)
    net.eval()
    files = {"state_dict (.pt)": folder / "resnet50.pt"}
    torch.save(net.state_dict(), files["state_dict (.pt)"])
    try:
        from safetensors.torch import save_file
        files["safetensors"] = folder / "resnet50.safetensors"
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(files["safetensors"]))
    except ImportError:
        print("safetensors is not installed: its row is left out")
    if onnx:
        try:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(net, (torch.randn(1, 3, 224, 224),), str(folder / "resnet50.onnx"), dynamo=True,
                                  optimize=False, opset_version=21, external_data=False, verbose=False,
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
            files["onnx"] = folder / "resnet50.onnx"
            print(f"(exported ResNet-50 to ONNX in {time.perf_counter() - start:.0f} s, not timed below)")
        except Exception as exc:  # onnxscript missing, or an exporter problem: say so and go on
            print(f"ONNX export failed ({type(exc).__name__}: {str(exc)[:100]}): its rows are left out")
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX rows (the export takes a while)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("torch is not installed: there is no model to build")
        return 1
    rows = []
    with tempfile.TemporaryDirectory(prefix="norm-explorer-bench-") as tmp:
        files = build_files(Path(tmp), onnx=not args.no_onnx)
        for label, path in files.items():
            seconds, model = best(lambda p=path: listing(p), args.repeats)
            size = path.stat().st_size / 1024 ** 2
            rows.append((f"open and list {label}", f"{size:.0f} MB, {len(model.layers)} layers", seconds, 2.0))
        seconds, model = best(lambda: listing(files["state_dict (.pt)"], architecture="resnet50"), args.repeats)
        rows.append(("open state_dict + built-in resnet50", f"{len(model.layers)} layers", seconds, 2.0))
        runnable = [("torch module", model)]
        if "onnx" in files:
            runnable.append(("onnx", listing(files["onnx"])))
        for label, m in runnable:
            x = m.example_input("image", batch=args.batch, shape=(args.batch, 3, 224, 224))
            first, last = m.layers[0].name, m.layers[-1].name
            for what, layer, stats in ((f"first layer ({first})", first, False),
                                       (f"last layer ({last})", last, False),
                                       ("last layer + every layer's gap statistics", last, True)):
                try:
                    seconds, _ = best(lambda mm=m, xx=x, n=layer, s=stats: mm.capture(xx, layers=[n], statistics=s),
                                      args.repeats)
                except ModelError as exc:
                    print(f"{label} {what}: {exc}")
                    continue
                rows.append((f"capture {what}, {label}", f"{args.batch}×3×224×224", seconds, 3.0))
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; best of {args.repeats}\n")
    print("| step | model | seconds | target |")
    print("|---|---|---:|---:|")
    for step, what, seconds, target in rows:
        mark = "" if seconds <= target else " (over)"
        print(f"| {step} | {what} | {seconds:.2f}{mark} | < {target:g} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
