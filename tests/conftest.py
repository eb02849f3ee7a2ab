"""pytest-xdist (make test: -n auto --dist loadgroup): every test file runs on one worker, in its
order, as when run alone (module fixtures such as the distributed view's process group are shared
by the file's tests in order); a file's own `xdist_group` mark puts several files on one worker."""

import pytest


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
