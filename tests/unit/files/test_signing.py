from __future__ import annotations

from modelyard.files import signing
from modelyard.files.signing import Kind

KEY = b"k"


def test_signatures_expire_and_bind_their_parts() -> None:
    expiry, sig = signing.sign(KEY, Kind.DELIVERY, ("a",), ttl=10, now=1000)
    assert signing.verify(KEY, Kind.DELIVERY, ("a",), expiry, sig, now=1005)
    assert not signing.verify(KEY, Kind.DELIVERY, ("a",), expiry, sig, now=1011)
    assert not signing.verify(KEY, Kind.DELIVERY, ("b",), expiry, sig, now=1005)
    assert not signing.verify(KEY, Kind.DELIVERY, ("a",), expiry + 1, sig, now=1005)
    assert not signing.verify(b"other", Kind.DELIVERY, ("a",), expiry, sig, now=1005)


def test_a_delivery_signature_never_verifies_as_a_file_download_or_back() -> None:
    # The old shared format signed "{key} {expiry}" and "{owner} {id} {expiry}": a delivery for
    # the key "alice f1" was a valid download of alice's file f1.
    expiry, delivery = signing.sign(KEY, Kind.DELIVERY, ("alice f1",), ttl=60, now=0)
    assert not signing.verify(KEY, Kind.FILE_DOWNLOAD, ("f1", "alice"), expiry, delivery, now=0)
    assert not signing.verify(KEY, Kind.FILE_DOWNLOAD, ("alice", "f1"), expiry, delivery, now=0)
    expiry, download = signing.sign(KEY, Kind.FILE_DOWNLOAD, ("f1", "alice"), ttl=60, now=0)
    for key in ("f1 alice", "alice f1", "f1alice", "files/f1/a.txt"):
        assert not signing.verify(KEY, Kind.DELIVERY, (key,), expiry, download, now=0)
    assert not signing.check_tag(KEY, "f1", download)


def test_parts_cannot_be_shifted_between_fields() -> None:
    expiry, sig = signing.sign(KEY, Kind.FILE_DOWNLOAD, ("f1", "al ice"), ttl=60, now=0)
    assert signing.verify(KEY, Kind.FILE_DOWNLOAD, ("f1", "al ice"), expiry, sig, now=0)
    assert not signing.verify(KEY, Kind.FILE_DOWNLOAD, ("f1 al", "ice"), expiry, sig, now=0)
    assert not signing.verify(KEY, Kind.FILE_DOWNLOAD, ("f1", "bob"), expiry, sig, now=0)


def test_a_malformed_signature_is_a_mismatch_not_an_error() -> None:
    expiry, _ = signing.sign(KEY, Kind.DELIVERY, ("a",), ttl=60, now=0)
    for sig in ("", "é" * 43, "\udcff", "x" * 10_000):
        assert not signing.verify(KEY, Kind.DELIVERY, ("a",), expiry, sig, now=0)


def test_stored_key_tags_bind_the_key_and_the_secret() -> None:
    tag = signing.tag(KEY, "predictions/p/out.png")
    assert signing.check_tag(KEY, "predictions/p/out.png", tag)
    assert not signing.check_tag(KEY, "predictions/q/out.png", tag)
    assert not signing.check_tag(b"other", "predictions/p/out.png", tag)
    _, delivery = signing.sign(KEY, Kind.DELIVERY, ("predictions/p/out.png",), ttl=0, now=0)
    assert delivery != tag
