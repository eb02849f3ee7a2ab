"""The test networks saved once per test run (exports take seconds): {network: {format: path}}."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import pytest


def need(*packages):
    """Skip (with the reason) when an optional package of the models extra is missing."""
    for name in packages:
        pytest.importorskip(name, reason=f"{name} is not installed (pip install '.[models]')")


@functools.lru_cache(maxsize=1)
def folder() -> Path:
    path = Path(tempfile.mkdtemp(prefix="norm-explorer-models-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def module(name: str):
    """The trained test network `name` ('conv_bn' or 'mixed'), built once."""
    from . import model_zoo

    return getattr(model_zoo, name)()


@functools.cache
def path(name: str, fmt: str) -> Path:
    """The network `name` saved as `fmt` ('state_dict', 'safetensors' or 'onnx'), once per run."""
    import torch

    from . import model_zoo

    mod, target = module(name), folder() / name
    if fmt == "state_dict":
        torch.save(mod.state_dict(), target.with_suffix(".pt"))
        return target.with_suffix(".pt")
    if fmt == "safetensors":
        need("safetensors")
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in mod.state_dict().items()}, str(target.with_suffix(".safetensors")))
        return target.with_suffix(".safetensors")
    need("onnx", "onnxscript")
    return model_zoo.export_onnx(mod, target.with_suffix(".onnx"))
