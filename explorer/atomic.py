"""Atomic file writes: write a temporary file beside the target, then rename it over the
target, so a crash or a full disk never leaves a half-written file or loses the old one."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


class SaveError(OSError):
    """A file could not be written; the message is one line for the user."""


@contextmanager
def atomic_path(target, suffix: str = ""):
    """Yield a temporary path in target's folder; on success it replaces target."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise SaveError(f"cannot save {target}: the folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix, dir=folder)
    except OSError as exc:
        raise SaveError(f"cannot save {target}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a saved file gets the usual permissions
        os.replace(tmp, target)
    except SaveError:
        raise  # already says which file and why
    except OSError as exc:
        raise SaveError(f"cannot save {target}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes(target, data: bytes):
    with atomic_path(target) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_text(target, text: str):
    write_bytes(target, text.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
