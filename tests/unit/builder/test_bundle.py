from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from modelyard.builder import BundleLimits, bundle_digest, pack_bundle, unpack_bundle
from modelyard.core.errors import BuildError, PayloadTooLarge


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getnames()


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, content in members:
            if content is not None:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def test_same_directory_twice_gives_same_digest_and_bytes(make_model) -> None:
    model = make_model({"weights/a.bin": b"\x00\x01"})
    assert bundle_digest(model) == bundle_digest(model)
    assert pack_bundle(model) == pack_bundle(model)
    assert len(bundle_digest(model)) == 64


def test_identical_content_elsewhere_gives_same_digest(make_model) -> None:
    assert bundle_digest(make_model(name="a")) == bundle_digest(make_model(name="b"))


def test_mtime_does_not_change_digest(make_model) -> None:
    model = make_model()
    before = bundle_digest(model)
    os.utime(model / "predict.py", (1, 1))
    assert bundle_digest(model) == before


def test_bytes_and_executable_bit_change_digest(make_model) -> None:
    model = make_model()
    original = bundle_digest(model)
    script = model / "predict.py"
    script.chmod(0o755)
    executable = bundle_digest(model)
    assert executable != original
    script.chmod(0o644)
    assert bundle_digest(model) == original
    script.write_text(script.read_text() + "\n")
    assert bundle_digest(model) != original


def test_renaming_a_file_changes_digest(make_model) -> None:
    model = make_model({"a.txt": "x"})
    before = bundle_digest(model)
    (model / "a.txt").rename(model / "b.txt")
    assert bundle_digest(model) != before


def test_always_excluded_directories(make_model) -> None:
    model = make_model()
    before = bundle_digest(model)
    for junk in (".cog/openapi_schema.json", ".git/HEAD", "__pycache__/x.pyc", ".venv/pyvenv.cfg"):
        path = model / junk
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("junk")
    (model / "sub" / "__pycache__").mkdir(parents=True)
    (model / "sub" / "__pycache__" / "y.pyc").write_text("junk")
    names = _names(pack_bundle(model))
    assert not any(part in name for name in names for part in (".cog", ".git", "__pycache__"))
    assert "sub" in names
    (model / "sub" / "__pycache__" / "y.pyc").unlink()
    (model / "sub" / "__pycache__").rmdir()
    (model / "sub").rmdir()
    assert bundle_digest(model) == before


def test_cogignore_and_dockerignore_are_honoured(make_model) -> None:
    model = make_model(
        {
            ".cogignore": "*.ckpt\ndata/\n!keep.ckpt\n",
            ".dockerignore": "secrets.txt\n",
            "model.ckpt": b"big",
            "keep.ckpt": b"small",
            "data/x.csv": "1,2",
            "secrets.txt": "nope",
            "nested/data/y.csv": "3,4",
        }
    )
    names = _names(pack_bundle(model))
    assert "model.ckpt" not in names
    assert "keep.ckpt" in names
    assert "secrets.txt" not in names
    assert not any(name.startswith("data") or "/data" in name for name in names)
    before = bundle_digest(model)
    (model / "model.ckpt").write_bytes(b"changed")
    (model / "data" / "new.csv").write_text("5")
    assert bundle_digest(model) == before


def test_roundtrip_keeps_content_mode_and_digest(make_model, tmp_path: Path) -> None:
    model = make_model({"run.sh": "#!/bin/sh\necho hi\n", "data/empty/.keep": ""})
    (model / "run.sh").chmod(0o755)
    (model / "link.py").symlink_to("predict.py")
    dest = tmp_path / "extracted"
    digest = unpack_bundle(pack_bundle(model), dest)
    assert digest == bundle_digest(model)
    assert (dest / "predict.py").read_text() == (model / "predict.py").read_text()
    assert os.access(dest / "run.sh", os.X_OK)
    assert (dest / "link.py").is_symlink()


def test_symlink_outside_the_directory_is_refused(make_model, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    model = make_model()
    (model / "weights.bin").symlink_to(outside)
    with pytest.raises(BuildError, match="weights.bin"):
        pack_bundle(model)


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("../escape.txt"),
        tarfile.TarInfo("/etc/evil"),
        tarfile.TarInfo("a/../../escape.txt"),
    ],
)
def test_unpack_rejects_traversal(member: tarfile.TarInfo, tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="outside"):
        unpack_bundle(_tar((member, b"x")), tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()


def test_unpack_rejects_links_out(tmp_path: Path) -> None:
    link = tarfile.TarInfo("link")
    link.type, link.linkname = tarfile.SYMTYPE, "../../etc/passwd"
    with pytest.raises(BuildError, match="symbolic link"):
        unpack_bundle(_tar((link, None)), tmp_path / "dest")
    absolute = tarfile.TarInfo("abs")
    absolute.type, absolute.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(BuildError, match="symbolic link"):
        unpack_bundle(_tar((absolute, None)), tmp_path / "dest2")


@pytest.mark.parametrize(
    "kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE, tarfile.LNKTYPE]
)
def test_unpack_rejects_special_files(kind: bytes, tmp_path: Path) -> None:
    member = tarfile.TarInfo("special")
    member.type = kind
    member.linkname = "predict.py"
    with pytest.raises(BuildError, match="special file"):
        unpack_bundle(_tar((member, None)), tmp_path / "dest")


@pytest.mark.parametrize("data", [b"", b"not a tarball", b"\x1f\x8b\x08\x00garbage"])
def test_unpack_corrupt_archive(data: bytes, tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="not a readable"):
        unpack_bundle(data, tmp_path / "dest")


def test_unpack_truncated_archive(make_model, tmp_path: Path) -> None:
    data = pack_bundle(make_model({"big.bin": os.urandom(50_000)}))
    with pytest.raises(BuildError, match="not a readable"):
        unpack_bundle(data[: len(data) // 2], tmp_path / "dest")


def test_unpack_size_limit(make_model, tmp_path: Path) -> None:
    data = pack_bundle(make_model({"zeros.bin": bytes(100_000)}))
    with pytest.raises(PayloadTooLarge, match="more than 50000 bytes"):
        unpack_bundle(data, tmp_path / "small", BundleLimits(max_bytes=50_000))
    assert not (tmp_path / "small").exists()
    assert unpack_bundle(data, tmp_path / "big", BundleLimits(max_bytes=1_000_000))
