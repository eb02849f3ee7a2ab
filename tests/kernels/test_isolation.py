"""kernels loads no Qt, does not import torch until asked, and works when torch is missing."""

from ..fresh import run_fresh as _run


def test_import_loads_no_qt_and_no_torch():
    out = _run("""
        import sys, kernels
        from kernels import summaries, inputs
        print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6', 'torch')))
    """)
    assert out.strip() == "[]"


def test_numpy_backend_works_when_torch_cannot_be_imported():
    out = _run("""
        import sys
        class BlockTorch:
            def find_spec(self, name, path=None, target=None):
                if name == 'torch' or name.startswith('torch.'):
                    raise ImportError('torch blocked for this test')
        sys.meta_path.insert(0, BlockTorch())
        import numpy as np
        from kernels import normalize, available_backends, available_devices, torch_missing_reason
        from kernels.summaries import histograms
        x = np.random.default_rng(0).standard_normal((2, 4, 3, 3)).astype(np.float32)
        res = normalize(x, 'group', groups=2)
        h = histograms(x, res.output)
        try:
            normalize(x, 'batch', backend='torch')
        except ValueError as e:
            print('error:', e)
        print(available_backends(), available_devices(), res.output.shape, int(h.counts_after.sum()))
        print('reason:', torch_missing_reason())
    """)
    assert "('numpy',) ['cpu'] (2, 4, 3, 3) 72" in out
    assert "backend 'torch' is unavailable: torch is not installed" in out
    assert "reason: torch is not installed" in out


def test_listing_the_backends_does_not_import_torch():
    """A window lists its backends at start-up: an installed torch is found, not imported (a second)."""
    out = _run("""
        import sys
        from kernels import available_backends, torch_missing_reason
        print(available_backends(), repr(torch_missing_reason()), 'torch' in sys.modules)
    """)
    assert out.strip() == "('numpy', 'torch') '' False"
