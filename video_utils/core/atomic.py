"""The one way Segue writes a file: under a temporary name in the target's folder, then renamed.

A crash, Cancel, a full disk or a killed process must never leave a half-written file under the
final name: resume and caching trust that a file which exists is complete.  The temporary name is
hidden, unique per writer (two processes never share one), lives in the same folder (so the
rename is atomic on POSIX) and keeps the suffix (muxers choose the container by it).  Data is
flushed to disk before the rename, so a power cut leaves the old file or the new one.

A writer killed mid-write (SIGKILL, power cut) cannot remove its temporary file.  Such a
leftover can never be taken for an output: its name is hidden (leading ``.``), carries
``.part`` and a random tag, no output is ever looked up by a pattern that matches it (folder
listings skip hidden files, counters match ``<prefix>_NNNNN`` from the name's start), and resume
trusts only the final name.  It is removed by the next write of the same target (a resumed run
rewrites exactly the file it lost), so a crash does not leak disk space either.  Only that
target's leftovers are touched: another file's writer in the same folder is never disturbed.

Pure standard library: the orchestrator (no torch) and the video writers share it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Iterator

PART_MARK = ".part"


def temp_name(target: Path) -> Path:
    """A fresh hidden name next to ``target`` with the same suffix: ``.name.<hex>.part.ext``."""
    return target.with_name(f".{target.stem}.{secrets.token_hex(4)}{PART_MARK}{target.suffix}")


def is_temp_name(name: str) -> bool:
    """True for a name ``temp_name`` made (what a crashed writer may leave behind)."""
    return name.startswith(".") and PART_MARK in name


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path; on success it is fsynced and renamed onto ``path``, on any error
    (including KeyboardInterrupt) it is removed and ``path`` is left as it was."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    tmp = temp_name(target)
    try:
        yield tmp
        if tmp.exists():
            _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_leftovers(target: str | os.PathLike) -> list[str]:
    """Delete the temporary files earlier (crashed) writers of ``target`` left next to it; returns
    their names.  A writer of the same target still running elsewhere would lose its temporary
    file and fail at its rename (never leaving a partial file): two writers of one file race anyway."""
    target = Path(target)
    pattern = re.compile(re.escape(f".{target.stem}.") + r"[0-9a-f]{8}" + re.escape(f"{PART_MARK}{target.suffix}")
                         + r"\Z")
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    removed = []
    for name in names:
        if pattern.match(name):
            with contextlib.suppress(FileNotFoundError):
                (target.parent / name).unlink()
                removed.append(name)
    return removed


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def copy_file(src: str | os.PathLike, dest: str | os.PathLike) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
