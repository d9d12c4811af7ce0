from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from modelyard.files import signing
from modelyard.files.signing import Kind
from modelyard.services.urls import FILE_MARKER, Urls, file_marker, marked_key

URLS = Urls(base="https://host:8000", secret=b"k", ttl=60)


def _query(url: str) -> tuple[int, str]:
    query = parse_qs(urlsplit(url).query)
    return int(query["expiry"][0]), query["signature"][0]


def test_platform_markers_become_signed_delivery_urls_everywhere() -> None:
    marker = file_marker(b"k", "predictions/p/out.png")
    rendered = URLS.render_output({"a": [marker, "text"], "b": marker})
    for url in (rendered["a"][0], rendered["b"]):
        assert url.startswith("https://host:8000/v1/deliveries/predictions/p/out.png?")
        expiry, sig = _query(url)
        assert signing.verify(b"k", Kind.DELIVERY, ("predictions/p/out.png",), expiry, sig)
        assert not signing.verify(b"k", Kind.FILE_DOWNLOAD, ("p", "out.png"), expiry, sig)
    assert rendered["a"][1] == "text"


def test_strings_that_only_look_like_markers_are_never_signed() -> None:
    other_tag = signing.tag(b"k", "predictions/mine/out.png")
    forged = [
        f"{FILE_MARKER}predictions/victim/out.png",  # the old, untagged form: a raw key
        f"{FILE_MARKER}{other_tag}/predictions/victim/out.png",  # a tag of another key
        f"{FILE_MARKER}{signing.tag(b'other secret', 'files/f/a')}/files/f/a",
        f"{FILE_MARKER}{other_tag}",
        f"{FILE_MARKER}{other_tag}/",
        FILE_MARKER,
        "https://host:8000/internal/files/predictions/victim/out.png",
    ]
    assert URLS.render_output({"input": forged}) == {"input": forged}
    assert all(marked_key(b"k", value) is None for value in forged)


def test_file_download_urls_bind_the_file_and_its_owner() -> None:
    url = URLS.file_download("f1", "alice")
    parts = urlsplit(url)
    assert parts.path == "/v1/files/f1/download"
    assert parse_qs(parts.query)["owner"] == ["alice"]
    expiry, sig = _query(url)
    assert signing.verify(b"k", Kind.FILE_DOWNLOAD, ("f1", "alice"), expiry, sig)
    assert not signing.verify(b"k", Kind.FILE_DOWNLOAD, ("f1", "bob"), expiry, sig)
    assert not signing.verify(b"k", Kind.DELIVERY, ("f1",), expiry, sig)


def test_prediction_urls_are_absolute_without_nulls() -> None:
    links = Urls(base="http://h", secret=b"", ttl=1).prediction("abc")
    assert links == {
        "get": "http://h/v1/predictions/abc",
        "cancel": "http://h/v1/predictions/abc/cancel",
        "web": "http://h/p/abc",
    }
