"""A framework module imported when a test first uses it, not when pytest collects the file: every
pytest-xdist worker collects every file, and importing Keras and TensorFlow there cost each worker
about 5 s. A missing package skips the test that needs it, with the reason given."""

import pytest


class LazyModule:
    def __init__(self, name: str, reason: str | None = None):
        self._name, self._reason, self._module = name, reason, None

    def __getattr__(self, attr: str):
        if attr.startswith(("_", "pytest")):  # pytest's collection looks for its markers
            raise AttributeError(attr)
        if self._module is None:
            self._module = pytest.importorskip(self._name, reason=self._reason)
        return getattr(self._module, attr)
