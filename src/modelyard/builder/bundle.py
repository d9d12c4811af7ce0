"""Model bundles: a reproducible .tar.gz of a model directory, its digest, safe unpacking."""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import stat
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pathspec

from modelyard.core.errors import BuildError

logger = logging.getLogger(__name__)

IGNORE_FILES = (".cogignore", ".dockerignore")
# Never part of a bundle: build output, VCS data, caches, a local venv.
ALWAYS_EXCLUDED = (".cog/", ".git/", "__pycache__/", ".venv/")


@dataclass(frozen=True)
class _Entry:
    relative: str  # posix path relative to the root
    kind: str  # "d" directory, "f" file, "x" executable file, "l" symlink
    path: Path
    link_target: str = ""


def pack_bundle(model_dir: Path) -> bytes:
    """Pack `model_dir` into a .tar.gz, honouring `.cogignore` and `.dockerignore`.

    The archive holds only paths, the executable bit and bytes (no owners or times), so
    packing the same directory twice gives the same bytes. Raises `BuildError` for a
    symlink that points outside the directory.
    """
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for entry in _walk(model_dir):
            info = tarfile.TarInfo(entry.relative)
            info.mtime = 0
            if entry.kind == "d":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif entry.kind == "l":
                info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, entry.link_target
                tar.addfile(info)
            else:
                info.mode = 0o755 if entry.kind == "x" else 0o644
                info.size = entry.path.stat().st_size
                with entry.path.open("rb") as handle:
                    tar.addfile(info, handle)
    return buffer.getvalue()


def bundle_digest(root: Path) -> str:
    """The version id of a model directory: sha256 hex over its bundled content.

    Covers the sorted relative paths, whether each file is executable, link targets and
    file bytes, after the same exclusions as `pack_bundle`; times and owners do not count.
    """
    digest = hashlib.sha256()
    for entry in _walk(root):
        digest.update(f"{entry.kind}\0{entry.relative}\0{entry.link_target}\0".encode())
        if entry.kind in ("f", "x"):
            digest.update(f"{entry.path.stat().st_size}\0".encode())
            with entry.path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
    return digest.hexdigest()


def unpack_bundle(data: bytes, dest: Path, *, max_size: int | None = None) -> str:
    """Extract a bundle into `dest` and return its `bundle_digest`.

    `dest` is created if missing and should be empty. Refuses absolute paths, `..`, links
    that lead outside `dest`, hard links, devices and FIFOs, and (with `max_size`) archives
    whose files add up to more bytes than that; raises `BuildError` for those and for an
    archive that cannot be read.
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member)
            total = sum(member.size for member in members if member.isreg())
            if max_size is not None and total > max_size:
                raise BuildError(
                    f"The bundle unpacks to {total} bytes, more than the {max_size} allowed; "
                    "list large files in .cogignore and download them in setup()."
                )
            tar.extractall(dest, members=members, filter="data")
    except BuildError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BuildError(
            "The bundle is not a readable .tar.gz archive; pack the model directory again."
        ) from exc
    return bundle_digest(dest)


def _check_member(member: tarfile.TarInfo) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or member.name.startswith("\\"):
        raise BuildError("The bundle holds a path outside the model directory; it was refused.")
    if member.isdir() or member.isreg():
        return
    if member.issym():
        target = PurePosixPath(member.linkname)
        resolved = _normalize(name.parent / target)
        if target.is_absolute() or resolved is None:
            raise BuildError(
                "The bundle holds a symbolic link that points outside the model directory; "
                "it was refused."
            )
        return
    raise BuildError("The bundle holds a hard link, device or other special file; it was refused.")


def _normalize(path: PurePosixPath) -> PurePosixPath | None:
    """Resolve `..` lexically; None when the path climbs above the root."""
    parts: list[str] = []
    for part in path.parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _ignore_spec(root: Path) -> pathspec.PathSpec:
    lines: list[str] = []
    for name in IGNORE_FILES:
        path = root / name
        if path.is_file():
            lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    lines.extend(ALWAYS_EXCLUDED)
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _walk(root: Path) -> Iterator[_Entry]:
    """Every bundled path under `root`, sorted, with excluded directories pruned."""
    if not root.is_dir():
        raise BuildError("The model directory does not exist or is not a directory.")
    spec = _ignore_spec(root)
    real_root = root.resolve()
    entries: list[_Entry] = []
    for current, dirnames, filenames in os.walk(root):
        base = Path(current)
        relative_base = base.relative_to(root).as_posix()
        prefix = "" if relative_base == "." else f"{relative_base}/"
        kept_dirs = []
        for name in dirnames:
            path = base / name
            relative = prefix + name
            if path.is_symlink():
                filenames.append(name)  # handled as a link below, never walked into
                continue
            if spec.match_file(relative + "/"):
                continue
            kept_dirs.append(name)
            entries.append(_Entry(relative, "d", path))
        dirnames[:] = kept_dirs
        for name in filenames:
            path = base / name
            relative = prefix + name
            if spec.match_file(relative):
                continue
            entry = _file_entry(path, relative, real_root)
            if entry is not None:
                entries.append(entry)
    entries.sort(key=lambda entry: entry.relative)
    return iter(entries)


def _file_entry(path: Path, relative: str, real_root: Path) -> _Entry | None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path)
        resolved = path.resolve()
        if os.path.isabs(target) or not resolved.is_relative_to(real_root):
            raise BuildError(
                f"{relative} is a symbolic link to a path outside the model directory; "
                "copy the file in or list it in .cogignore."
            )
        return _Entry(relative, "l", path, link_target=target)
    if stat.S_ISREG(info.st_mode):
        executable = bool(info.st_mode & stat.S_IXUSR)
        return _Entry(relative, "x" if executable else "f", path)
    logger.warning("skipping %s: not a regular file, directory or symlink", relative)
    return None
