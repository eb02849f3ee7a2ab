"""The built wheel carries what the program reads at run time (the sample image, the icon) and
works from any folder: installed with --no-deps into a bare target beside the checkout's
dependencies, run from a folder with no source tree in it."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy of the source: setuptools' build/ folder in the checkout holds whatever earlier
    # builds left there (a stale tree once failed the build with "No such file or directory")
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "docs"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--wheel-dir", str(out), str(source)], capture_output=True, text=True, timeout=300,
                          cwd=out)
    if done.returncode != 0:
        pytest.fail(f"pip wheel failed: {done.stderr[-2000:]}")
    (path,) = out.glob("norm_explorer-*.whl")
    return path


def test_the_wheel_holds_the_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "kernels/data/sample_image.npy" in names
    assert {"explorer/icons/norm-explorer.svg", "explorer/icons/norm-explorer.desktop"} <= names
    assert not any(n.startswith(("tests/", "resources/")) for n in names)


def test_the_installed_wheel_runs_from_another_folder(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # the target first: the checkout's editable install must not be what answers
    env = {**os.environ, "PYTHONPATH": str(site), "QT_QPA_PLATFORM": "offscreen"}
    code = ("import kernels, explorer, numpy as np\n"
            "from kernels import generate\n"
            "from explorer.main_window import ICON\n"
            f"assert kernels.__file__.startswith({str(site)!r}), kernels.__file__\n"
            "x = generate('image', (2, 3, 16, 16), seed=0)\n"
            "assert x.shape == (2, 3, 16, 16) and np.isfinite(x).all() and x.std() > 0\n"
            "assert ICON.is_file(), ICON\n"
            "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
    out = elsewhere / "fig.png"
    done = subprocess.run([sys.executable, "-m", "explorer", "export", "--input", "image", "--out", str(out)],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
