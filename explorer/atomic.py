"""Atomic file writes: write a temporary file beside the target, then rename it over the
target, so a crash or a full disk never leaves a half-written file or loses the old one.

Temporary files are named `.NAME.norm-explorer-tmp-PID-XXXX`: a save killed mid-write leaves one
behind, and the next save to that folder removes those whose process is gone."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


class SaveError(OSError):
    """A file could not be written; the message is one line for the user."""


TEMP_MARK = ".norm-explorer-tmp-"


@contextmanager
def atomic_path(target, suffix: str = ""):
    """Yield a temporary path in target's folder; on success it replaces target."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise SaveError(f"cannot save {target}: the folder {folder} does not exist")
    remove_stale_temporaries(folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}{TEMP_MARK}{os.getpid()}-", suffix=suffix or target.suffix,
                                   dir=folder)
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


def remove_stale_temporaries(folder: Path) -> list:
    """Delete the temporary files of saves whose process no longer runs (killed mid-write); the
    temporary files of saves in progress, in this or another process, are left alone."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if TEMP_MARK not in entry.name or not entry.name.startswith("."):
            continue
        pid = entry.name.split(TEMP_MARK, 1)[1].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                os.unlink(entry.path)
                removed.append(entry.path)
            except OSError:
                pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process: leave its files alone
    return True


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
