"""Where outputs go: ``--out`` checked before any work, outputs published by atomic renames.

The rule for ``--out`` (README, "Outputs"):

* absent, or an empty folder: the output is created there;
* a folder snn-dfa wrote earlier (it holds ``.snn-dfa-output``, the list of the files snn-dfa
  wrote into it): replaced as a whole; files someone else added to it are carried over into
  the new output, never deleted;
* anything else (a folder holding other files) is refused with one line and exit code 2,
  unless ``--force``: then every file in it is carried over like an added file;
* a file, a symbolic link, the empty string, a name longer than the file system allows, or a
  place that cannot be written is refused before any work starts.

A carried-over file whose name the new output also uses is moved to the sibling folder
``<out>.kept-<time>`` instead, with one line saying so.

Publishing: the complete output is built in a staging folder beside ``--out`` with a short
hidden name (``.snn-dfa-stage-<pid>-<random>``); then the previous output, if any, is renamed
aside (``.snn-dfa-old-<pid>-<random>``) and the staging folder renamed to ``--out``: two renames,
so at any moment the old or the new output is whole.  Staging and aside folders whose process
is gone (a kill) are cleaned up by the next run in the same parent folder: a staging folder is
removed (it holds only what the tool wrote); an aside folder is put back when ``--out`` is
missing (the kill came between the two renames), else its added files are carried over.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from pathlib import Path

from snn_dfa.errors import ValidationError, notice

MARKER = ".snn-dfa-output"
STAGE = ".snn-dfa-stage-"
ASIDE = ".snn-dfa-old-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def public_modes(root: Path) -> None:
    """Give ``root`` and everything below it the modes of ordinary new files and folders
    (``0666``/``0777`` less the umask: 0644/0755 by default); temporary files start 0600."""
    mask = _umask()
    if not root.is_dir():
        root.chmod(0o666 & ~mask)
        return
    root.chmod(0o777 & ~mask)
    for folder, dirs, files in os.walk(root):
        for d in dirs:
            (Path(folder) / d).chmod(0o777 & ~mask)
        for f in files:
            (Path(folder) / f).chmod(0o666 & ~mask)


def manifest(folder: Path) -> set[str] | None:
    """The files snn-dfa wrote into ``folder`` (relative paths), or None if it did not."""
    try:
        data = json.loads((folder / MARKER).read_text())
        return {str(p) for p in data["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _files(folder: Path) -> list[str]:
    """Relative paths of every file (and symbolic link) below ``folder``."""
    out = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        out += [str(rel / f) for f in files]
        out += [str(rel / d) for d in dirs if (Path(root) / d).is_symlink()]
    return sorted(os.path.normpath(p) for p in out)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(name: str, prefix: str) -> int | None:
    """The process id in a staging or aside folder name, None if it is not one."""
    if not name.startswith(prefix):
        return None
    pid = name[len(prefix):].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def check_out(out: str | os.PathLike[str], force: bool = False, resumable: bool = False
              ) -> Path:
    """Validate ``--out`` before any work; returns it as an absolute path.

    ``resumable`` (sweeps): an existing folder is accepted as it is (a sweep resumes in it).
    Raises :class:`ValidationError` (one line naming the value and what was expected).
    """
    text = os.fspath(out)
    if not text.strip():
        raise ValidationError(f"--out={text!r}: expected a folder name (not the empty string)")
    path = Path(text).absolute()
    limit = _name_max(Path(path.anchor))
    for part in path.parts[1:]:
        if len(os.fsencode(part)) > limit:
            raise ValidationError(f"--out={text[:40]!r}...: the name {part[:20]!r}... has "
                                  f"{len(os.fsencode(part))} bytes; the file system allows "
                                  f"{limit}")
    if path.is_symlink():
        raise ValidationError(f"--out={text!r}: is a symbolic link; expected a folder or a new "
                              "name")
    ancestor = path.parent
    while not ancestor.exists() and not ancestor.is_symlink():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValidationError(f"--out={text!r}: {str(ancestor)!r} is not a folder")
    clean_stale(path)
    if path.exists():
        if not path.is_dir():
            raise ValidationError(f"--out={text!r}: exists and is not a folder")
        if not resumable and any(path.iterdir()) and manifest(path) is None and not force:
            raise ValidationError(
                f"--out={text!r}: a folder holding files snn-dfa did not write; choose another "
                "folder, or pass --force to publish there (its files are kept)")
    _probe(ancestor if not path.exists() else path.parent, text)
    if path.exists():
        _probe(path, text)
    return path


def _probe(folder: Path, text: str) -> None:
    """Create and remove a folder in ``folder``: the only sure test that it is writable."""
    probe = folder / f"{STAGE}{os.getpid()}-probe"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise ValidationError(f"--out={text!r}: cannot write in {str(folder)!r} "
                              f"({exc.strerror or exc})") from None


def new_staging(out: Path) -> Path:
    """An empty staging folder beside ``out`` (its parents created)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.parent / f"{STAGE}{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir()
    return path


def publish(staging: Path, out: Path, force: bool = False) -> None:
    """Put the complete output ``staging`` at ``out`` (see the module docstring)."""
    written = _files(staging)
    (staging / MARKER).write_text(json.dumps({"name": out.name, "files": written}) + "\n")
    public_modes(staging)
    if not out.exists():
        os.rename(staging, out)
        return
    if out.is_dir() and not any(out.iterdir()):
        os.replace(staging, out)  # an empty folder is replaced by the rename itself
        return
    previous = manifest(out)
    if previous is None and not force:
        shutil.rmtree(staging, ignore_errors=True)
        raise ValidationError(f"--out={str(out)!r}: a folder holding files snn-dfa did not "
                              "write; pass --force to publish there (its files are kept)")
    # the marker names the folder, so a run killed between the renames can put it back
    (out / MARKER).write_text(json.dumps({"name": out.name, "files": sorted(previous or [])}))
    aside = out.parent / f"{ASIDE}{os.getpid()}-{secrets.token_hex(4)}"
    os.rename(out, aside)
    os.rename(staging, out)
    _carry_over(aside, out)


def _carry_over(aside: Path, out: Path) -> None:
    """Move the files of an old output that snn-dfa did not write into ``out``, then remove
    the rest (files snn-dfa wrote)."""
    ours = (manifest(aside) or set()) | {MARKER}
    kept: Path | None = None
    for rel in _files(aside):
        if rel in ours:
            continue
        source, target = aside / rel, out / rel
        if target.exists() or target.is_symlink() or _blocked(out, rel):
            if kept is None:
                kept = out.parent / f"{out.name}.kept-{time.strftime('%Y%m%d-%H%M%S')}"
                notice(f"files of the previous {str(out)!r} that the new output also names "
                       f"are kept in {str(kept)!r}")
            target = kept / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(source, target)
    shutil.rmtree(aside)


def _blocked(out: Path, rel: str) -> bool:
    """Whether a parent of ``out / rel`` exists as a non-folder."""
    p = out
    for part in Path(rel).parts[:-1]:
        p = p / part
        if p.exists() and not p.is_dir():
            return True
    return False


def clean_stale(out: Path) -> None:
    """Remove staging folders and restore or settle aside folders left by killed runs in
    ``out``'s parent folder (only those whose process is gone)."""
    parent = out.parent
    if not parent.is_dir():
        return
    for entry in list(parent.iterdir()):
        stage_pid, aside_pid = _owner(entry.name, STAGE), _owner(entry.name, ASIDE)
        pid = stage_pid if stage_pid is not None else aside_pid
        if pid is None or _alive(pid) or not entry.is_dir() or entry.is_symlink():
            continue
        if stage_pid is not None:
            shutil.rmtree(entry, ignore_errors=True)
            notice(f"removed {str(entry)!r}, left by an interrupted run")
            continue
        manifest = json.loads((entry / MARKER).read_text()) if (entry / MARKER).is_file() else {}
        target = parent / str(manifest.get("name", ""))
        if not manifest.get("name") or target == parent:
            continue
        if not target.exists():
            os.rename(entry, target)
            notice(f"restored {str(target)!r} (an interrupted run had moved it aside)")
        else:
            _carry_over(entry, target)
            notice(f"finished replacing {str(target)!r} (an interrupted run had begun it)")
