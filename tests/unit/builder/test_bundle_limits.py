"""Unpacking hostile bundles: limits checked while inflating, and only hashed paths written."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import time
import zlib
from pathlib import Path

import pytest

from modelyard.builder import BundleLimits, bundle_digest, pack_bundle, unpack_bundle
from modelyard.core.errors import BuildError, PayloadTooLarge

MiB = 1 << 20


def _tar(*members: tuple[str, bytes | str | None], mode: str = "w:gz") -> bytes:
    """A tarball of (name, content) pairs: bytes a file, a str the target of a symlink,
    None a directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:  # type: ignore[call-overload]
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o644
            if isinstance(content, bytes):
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
    return buffer.getvalue()


def _gzip_bomb(unpacked: int) -> bytes:
    """A .tar.gz of one file of `unpacked` zero bytes, built from repeated gzip members so
    that making it costs about unpacked/1000 bytes and no time."""
    header = tarfile.TarInfo("zeros.bin")
    header.size = unpacked
    block = gzip.compress(bytes(MiB), compresslevel=9)
    assert unpacked % MiB == 0
    parts = [gzip.compress(header.tobuf(format=tarfile.PAX_FORMAT))]
    parts += [block] * (unpacked // MiB)
    parts.append(gzip.compress(bytes(1024)))  # the end-of-archive blocks
    return b"".join(parts)


def test_gzip_bomb_is_refused_past_the_ratio_floor_and_writes_nothing(tmp_path: Path) -> None:
    bomb = _gzip_bomb(8 << 30)  # 8 GiB of zeros: under the 10 GiB size limit
    assert len(bomb) < 16 * MiB
    dest = tmp_path / "dest"
    started = time.monotonic()
    with pytest.raises(PayloadTooLarge, match="decompression bomb") as caught:
        unpack_bundle(bomb, dest)
    # Stopped near the 64 MiB floor, not after inflating 8 GiB (that takes over 10 s).
    assert time.monotonic() - started < 5
    assert caught.value.status == 413
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_compressible_bundle_under_the_floor_is_fine(tmp_path: Path) -> None:
    zeros = _gzip_bomb(32 * MiB)  # 1000:1 but only 32 MiB: a model with some padding
    unpack_bundle(zeros, tmp_path / "dest")
    assert (tmp_path / "dest" / "zeros.bin").stat().st_size == 32 * MiB


def test_oversize_bundle_is_refused_before_anything_is_written(make_model, tmp_path) -> None:
    data = pack_bundle(make_model({"weights.bin": bytes(3 * MiB)}))
    dest = tmp_path / "dest"
    with pytest.raises(PayloadTooLarge) as caught:
        unpack_bundle(data, dest, BundleLimits(max_bytes=2 * MiB))
    assert caught.value.status == 413
    assert "more than 2097152 bytes" in caught.value.detail
    assert "MODELYARD_MAX_BUNDLE_UNPACKED_BYTES" in caught.value.detail
    assert not dest.exists()


def test_header_bloat_counts_towards_the_size_limit(tmp_path: Path) -> None:
    # 8 MiB in a PAX header: no file is large, and tarfile would hold it all in memory.
    info = tarfile.TarInfo("predict.py")
    info.pax_headers = {"comment": "x" * (8 * MiB)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(PayloadTooLarge, match="MODELYARD_MAX_BUNDLE_UNPACKED_BYTES"):
        limits = BundleLimits(max_bytes=MiB, max_files=10)  # headers may add 4 KiB a file
        unpack_bundle(buffer.getvalue(), tmp_path / "dest", limits)
    assert not (tmp_path / "dest").exists()


def test_too_many_files_is_refused(make_model, tmp_path: Path) -> None:
    # cog.yaml, predict.py and 8 more: exactly 10 entries pass, 11 do not.
    files = {f"f{i}.txt": str(i) for i in range(8)}
    fits = pack_bundle(make_model(files))
    assert unpack_bundle(fits, tmp_path / "fits", BundleLimits(max_files=10))
    over = pack_bundle(make_model({**files, "one-more.txt": "x"}))
    with pytest.raises(BuildError) as caught:
        unpack_bundle(over, tmp_path / "over", BundleLimits(max_files=10))
    assert caught.value.status == 400
    assert "more than 10 files" in caught.value.detail
    assert "MODELYARD_MAX_BUNDLE_FILES" in caught.value.detail
    assert not (tmp_path / "over").exists()


def test_default_limits() -> None:
    limits = BundleLimits()
    assert (limits.max_bytes, limits.max_files) == (10 << 30, 20_000)
    assert (limits.max_ratio, limits.ratio_floor) == (100, 64 * MiB)


def test_paths_the_digest_skips_are_never_written(make_model, tmp_path: Path) -> None:
    honest = make_model({".cogignore": "*.ckpt\n"})
    cog_yaml = (honest / "cog.yaml").read_bytes()
    predict = (honest / "predict.py").read_bytes()
    poisoned = _tar(
        ("cog.yaml", cog_yaml),
        ("predict.py", predict),
        ("__pycache__/predict.cpython-311.pyc", b"evil bytecode"),
        ("sub", None),
        ("sub/__pycache__/x.pyc", b"evil"),
        (".git/hooks/post-checkout", b"evil"),
        (".venv/lib/site.py", b"evil"),
        (".cog/openapi_schema.json", b"{}"),
        ("weights.ckpt", b"ignored by .cogignore, which comes after it"),
        (".cogignore", b"*.ckpt\n"),
    )
    dest = tmp_path / "dest"
    digest = unpack_bundle(poisoned, dest)
    written = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*"))
    assert written == [".cogignore", "cog.yaml", "predict.py", "sub"]
    (honest / "sub").mkdir()
    assert digest == bundle_digest(honest) == bundle_digest(dest)


def test_a_leading_dot_slash_and_other_compressions_unpack(make_model, tmp_path) -> None:
    model = make_model()
    files = [(name, (model / name).read_bytes()) for name in ("cog.yaml", "predict.py")]
    expected = bundle_digest(model)
    dotted = [(".", None), *((f"./{name}", data) for name, data in files)]
    for i, mode in enumerate(("w:gz", "w:bz2", "w:xz", "w")):
        assert unpack_bundle(_tar(*dotted, mode=mode), tmp_path / str(i)) == expected  # type: ignore[arg-type]
    raw = _tar(*files, mode="w")
    for i, packed in enumerate((bz2.compress(raw), lzma.compress(raw), zlib.compress(raw))):
        if i < 2:
            assert unpack_bundle(packed, tmp_path / f"c{i}") == expected
        else:  # a bare zlib stream is not an archive format we take
            with pytest.raises(BuildError, match="not a readable"):
                unpack_bundle(packed, tmp_path / f"c{i}")


def test_an_archive_file_on_disk_unpacks_like_bytes(make_model, tmp_path: Path) -> None:
    model = make_model()
    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(pack_bundle(model))
    assert unpack_bundle(archive, tmp_path / "dest") == bundle_digest(model)


@pytest.mark.parametrize("target", ["sub", "__pycache__", ".git"])
def test_writing_through_a_symlink_is_refused(target: str, tmp_path: Path) -> None:
    # `x -> __pycache__` then `x/predict.cpython-311.pyc` would land in a skipped folder.
    bundle = _tar((target, None), ("x", target), ("x/predict.cpython-311.pyc", b"evil"))
    with pytest.raises(BuildError, match="through a symbolic link"):
        unpack_bundle(bundle, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_the_same_path_twice_is_refused(tmp_path: Path) -> None:
    bundle = _tar(("predict.py", b"honest"), ("./predict.py", b"evil"))
    with pytest.raises(BuildError, match="same path twice"):
        unpack_bundle(bundle, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_an_ignore_file_that_is_a_link_is_refused(tmp_path: Path) -> None:
    bundle = _tar(("rules.txt", b"*.py\n"), (".cogignore", "rules.txt"))
    with pytest.raises(BuildError, match=".cogignore must be a plain file"):
        unpack_bundle(bundle, tmp_path / "dest")


def test_sparse_files_are_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("weights.bin")
    info.type = tarfile.GNUTYPE_SPARSE
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(info)
    with pytest.raises(BuildError, match="sparse"):
        unpack_bundle(buffer.getvalue(), tmp_path / "dest")
