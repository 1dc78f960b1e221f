"""Writing files safely: atomic writes (temp file + rename) with the user's umask, and OS errors
(disk full, read-only, permission, a path that is a file) turned into one-paragraph user errors.

Every file snn2hw writes goes through `atomic_write_bytes` or `atomic_write_with` (for libraries
that write to a path themselves: h5py, nir, torch.onnx), so a crash or a full disk leaves either
the old file or the new one, never a torn one, and no stray temp file.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from snn2hw.errors import Snn2hwError


class FileSystemError(Snn2hwError):
    """The operating system refused a read or write (disk full, read-only, no permission...)."""


def current_umask() -> int:
    """The process umask: from /proc on Linux (no side effect), else by setting and restoring it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode() -> int:
    """Mode a plain `open(path, 'w')` would give a new file: 0o666 minus the umask."""
    return 0o666 & ~current_umask()


def _temp_in(path: Path) -> Path:
    """A fresh, empty temp file next to `path` (same file system, so the rename is atomic)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def atomic_write_with(path: str | Path, write: Callable[[Path], None], *, fsync: bool = True,
                      what: str = "file") -> None:
    """Call write(tmp) for a temp file beside `path`, then give it the umask's mode and rename it.

    On any failure the temp file is removed and `path` is untouched; OS errors become a
    FileSystemError that names `path` and the fix.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        ensure_dir(path.parent, what=f"the folder for {what} {path.name}")
        tmp = _temp_in(path)
        write(tmp)
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise os_error(e, path, f"write {what}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes, *, fsync: bool = True,
                       what: str = "file") -> None:
    """Write `data` to `path` atomically (temp file + fsync + rename), readable as the umask allows."""
    atomic_write_with(path, lambda tmp: tmp.write_bytes(data), fsync=fsync, what=what)


def atomic_write_text(path: str | Path, text: str, *, what: str = "file") -> None:
    atomic_write_bytes(path, text.encode(), what=what)


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the hidden temp files (.NAME.XXXX.tmp) a killed writer left in `folder`."""
    gone = []
    for p in Path(folder).glob(".*.tmp"):
        if p.is_file():
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def ensure_dir(path: str | Path, *, what: str = "folder", option: str | None = None) -> Path:
    """mkdir -p `path`; a file in the way, a read-only disk or no permission is a FileSystemError."""
    path = Path(path)
    for parent in (path, *path.parents):
        if parent.exists() and not parent.is_dir():
            hint = f" (option {option})" if option else ""
            raise FileSystemError(
                f"cannot create {what} {path}: {parent} is a file, not a folder{hint}; choose "
                "another path or move the file away"
            )
        if parent.exists():
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise os_error(e, path, f"create {what}") from None
    return path


_FIXES = {
    errno.ENOSPC: ("the disk is full", "free some space (or write elsewhere) and run the command again"),
    errno.EDQUOT: ("the disk quota is exhausted", "free some space (or write elsewhere) and run the command again"),
    errno.EROFS: ("the file system is read-only",
                  "choose a writable folder (e.g. --out, --runs-dir) or remount it read-write"),
    errno.EACCES: ("permission denied",
                   "choose a folder you can write to, or fix its permissions (ls -ld shows them)"),
    errno.EPERM: ("the operation is not permitted", "choose a folder you own, or fix its permissions"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose another path or move the file away"),
    errno.EISDIR: ("the path is a folder, not a file", "give a file name inside it"),
    errno.EEXIST: ("a file already exists there", "choose another path or move the file away"),
    errno.ENOENT: ("the file or folder does not exist", "check the path"),
    errno.ENAMETOOLONG: ("the file name is too long", "choose a shorter path"),
    errno.EMFILE: ("too many files are open", "raise the limit (ulimit -n) or use fewer loader workers"),
}


def is_user_os_error(e: BaseException) -> bool:
    """An OSError the user can fix (disk, permission, path), as opposed to a program bug."""
    return isinstance(e, OSError) and e.errno in _FIXES


def os_error(e: OSError, path: str | Path | None = None, action: str = "access") -> Snn2hwError:
    """One paragraph for an OSError: what failed, where, why and the fix (returned, not raised)."""
    where = path if path is not None else (e.filename or "a file")
    why, fix = _FIXES.get(e.errno, (e.strerror or str(e), "check the path and the disk"))
    extra = f" ({e.strerror}: {e.filename})" if e.filename and str(e.filename) != str(where) else ""
    return FileSystemError(f"cannot {action} {where}: {why}{extra}; {fix}")


STALE_STAGE_S = 3600.0


def _remove_stale_stages(final: Path) -> None:
    """Delete temp folders of `final` older than an hour (left by a killed export or report)."""
    import time

    for p in final.parent.glob(f".{final.name}.*.tmp"):
        try:
            if p.is_dir() and time.time() - p.stat().st_mtime > STALE_STAGE_S:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


@contextmanager
def staged_dir(final: str | Path, *, what: str = "output folder", option: str | None = None):
    """Yield a temp folder beside `final`; when the block succeeds its files are renamed into
    `final` (created if needed), and on any failure nothing in `final` changes.

    So a command that writes several files (an export) leaves either all of them or none; the
    temp folder is removed in every case.
    """
    final = Path(final)
    if final.exists() and not final.is_dir():
        hint = f" (option {option})" if option else ""
        raise FileSystemError(f"{what} {final} is a file, not a folder{hint}; choose another path "
                              "or move the file away")
    ensure_dir(final.parent, what=f"the parent of {what} {final.name}", option=option)
    _remove_stale_stages(final)
    try:
        stage = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    except OSError as e:
        raise os_error(e, final.parent, f"write {what} {final.name} into") from None
    try:
        yield stage
        ensure_dir(final, what=what, option=option)
        for entry in sorted(stage.iterdir()):
            target = final / entry.name
            if entry.is_dir() and target.is_dir():
                shutil.rmtree(target)
            os.replace(entry, target)
    except OSError as e:
        raise os_error(e, final, f"write {what}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
