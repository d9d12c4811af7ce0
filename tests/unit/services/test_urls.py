from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from modelyard.files import signing
from modelyard.services.urls import Urls, file_marker


def test_output_markers_become_signed_urls_everywhere() -> None:
    urls = Urls(base="https://host:8000", secret=b"k", ttl=60)
    marker = file_marker("predictions/p/out.png")
    rendered = urls.render_output({"a": [marker, "text"], "b": marker})
    for url in (rendered["a"][0], rendered["b"]):
        parts = urlsplit(url)
        assert url.startswith("https://host:8000/v1/deliveries/predictions/p/out.png?")
        query = parse_qs(parts.query)
        assert signing.verify(
            b"k", "predictions/p/out.png", int(query["expiry"][0]), query["signature"][0]
        )
    assert rendered["a"][1] == "text"


def test_signatures_expire_and_bind_the_key() -> None:
    expiry, sig = signing.sign(b"k", "a", ttl=10, now=1000)
    assert signing.verify(b"k", "a", expiry, sig, now=1005)
    assert not signing.verify(b"k", "a", expiry, sig, now=1011)
    assert not signing.verify(b"k", "b", expiry, sig, now=1005)
    assert not signing.verify(b"other", "a", expiry, sig, now=1005)


def test_prediction_urls_are_absolute_without_nulls() -> None:
    links = Urls(base="http://h", secret=b"", ttl=1).prediction("abc")
    assert links == {
        "get": "http://h/v1/predictions/abc",
        "cancel": "http://h/v1/predictions/abc/cancel",
        "web": "http://h/p/abc",
    }
