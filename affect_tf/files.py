"""File-system conventions used across the package: atomic writes and TF Serving's version folders.

A reader (a resumed job, TF Serving, a user's shell) must never see a half-written file, so every
output goes to a temporary name in the same folder and is renamed into place.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path beside ``path``; on success rename it onto ``path`` (same file system,
    so the rename is atomic), on failure remove it. ``suffix`` (default ``path``'s) keeps writers
    that choose the format from the extension (``.keras``, ``.png``) working. The file gets the
    permissions a plain ``open`` would give (mkstemp makes 0600)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomic(path, text: str) -> pathlib.Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return pathlib.Path(path)


def write_bytes_atomic(path, data: bytes) -> pathlib.Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return pathlib.Path(path)


def version_dirs(base, require: str | None = "saved_model.pb") -> list[tuple[int, pathlib.Path]]:
    """``(version, folder)`` of TF Serving's integer version folders under ``base``, oldest first;
    with ``require``, only folders holding that file (a complete export)."""
    base = pathlib.Path(base)
    if not base.is_dir():
        return []
    found = [(int(p.name), p) for p in base.iterdir() if p.is_dir() and p.name.isdigit()
             and (require is None or (p / require).exists())]
    return sorted(found)


def latest_version_dir(base, require: str | None = "saved_model.pb") -> pathlib.Path | None:
    """The newest complete version folder under ``base``, or None when there is none."""
    found = version_dirs(base, require)
    return found[-1][1] if found else None


def find_saved_model(path) -> pathlib.Path:
    """The SavedModel folder at ``path``: itself, or its newest complete version folder."""
    path = pathlib.Path(path)
    found = path if (path / "saved_model.pb").is_file() else latest_version_dir(path)
    if found is None:
        raise FileNotFoundError(f"no SavedModel (saved_model.pb) in {path} or its version folders")
    return found
