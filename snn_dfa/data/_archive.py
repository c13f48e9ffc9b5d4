"""Find a named member in a folder, a zip file, or zip files nested in either.

The official archives wrap their folders differently (UCI-HAR's download is a zip holding
``UCI HAR Dataset.zip``; HHAR's holds ``Activity recognition exp.zip``), so loaders ask for a
member by the tail of its path, e.g. ``"train/y_train.txt"``, and accept whichever form the
user has: the extracted folder, the inner zip or the outer download.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from snn_dfa.errors import DataError

_IGNORED_PREFIX = "__MACOSX/"


def _matches(name: str, suffix: str) -> bool:
    name = name.replace("\\", "/")
    return (name == suffix or name.endswith("/" + suffix)) and _IGNORED_PREFIX not in name


def _zip_find(zf: zipfile.ZipFile, suffix: str) -> list[str]:
    return sorted(n for n in zf.namelist() if _matches(n, suffix))


def _zip_nested(zf: zipfile.ZipFile) -> list[str]:
    return sorted(
        n for n in zf.namelist() if n.lower().endswith(".zip") and _IGNORED_PREFIX not in n
    )


def _locate(root: Path, suffix: str) -> list[tuple[Path, tuple[str, ...]]]:
    """Every match as ``(file on disk, chain of zip member names)``."""
    found: list[tuple[Path, tuple[str, ...]]] = []

    def search_zip(path: Path, chain: tuple[str, ...], zf: zipfile.ZipFile) -> None:
        found.extend((path, chain + (name,)) for name in _zip_find(zf, suffix))
        for inner in _zip_nested(zf):
            with zf.open(inner) as raw, zipfile.ZipFile(raw) as inner_zf:
                search_zip(path, chain + (inner,), inner_zf)

    def search_file(path: Path) -> None:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                search_zip(path, (), zf)

    if root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file())
        found.extend((p, ()) for p in files if _matches(p.relative_to(root).as_posix(), suffix))
        for path in files:
            if path.suffix.lower() == ".zip":
                search_file(path)
    elif root.is_file():
        search_file(root)
    return found


def has_member(root: Path, suffix: str) -> bool:
    """True when ``root`` (folder or zip) holds a member whose path ends with ``suffix``."""
    try:
        return bool(_locate(root, suffix))
    except (OSError, zipfile.BadZipFile):
        return False


@contextmanager
def open_member(root: Path, suffix: str, how_to_obtain: str) -> Iterator[IO[bytes]]:
    """Open the one member of ``root`` whose path ends with ``suffix``, as a binary stream.

    Raises DataError naming the path and how to obtain the data when it is missing, and
    when more than one member matches.
    """
    if not root.exists():
        raise DataError(f"missing data: {root} does not exist; {how_to_obtain}")
    try:
        found = _locate(root, suffix)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{root}: unreadable archive ({exc}); {how_to_obtain}") from exc
    if not found:
        raise DataError(f"missing data: no file ending in {suffix!r} under {root}; {how_to_obtain}")
    if len(found) > 1:
        where = "; ".join(f"{p} {'/'.join(c)}" for p, c in found)
        raise DataError(f"{root}: several files end in {suffix!r} ({where}); pass one of them")
    path, chain = found[0]
    if not chain:
        with open(path, "rb") as fh:
            yield fh
        return
    try:
        with zipfile.ZipFile(path) as zf:
            yield from _open_chain(zf, chain)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{path}: damaged zip member {'/'.join(chain)} ({exc})") from exc


def _open_chain(zf: zipfile.ZipFile, chain: tuple[str, ...]) -> Iterator[IO[bytes]]:
    with zf.open(chain[0]) as member:
        if len(chain) == 1:
            yield member
        else:
            with zipfile.ZipFile(member) as inner:
                yield from _open_chain(inner, chain[1:])
