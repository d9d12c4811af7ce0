from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.api._downloads import content_disposition, media_type_of, stored_file_response


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html",
        "TEXT/HTML; charset=utf-8",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/javascript",
        "application/javascript",
        "application/xml",
        "text/xml",
        "application/pdf",
        "application/octet-stream",
        "application/x-unknown",
        "",
        None,
        "text/html\r\nX-Injected: 1",
        "not a type",
    ],
)
def test_active_or_unknown_content_is_an_attachment(content_type: str | None) -> None:
    response = stored_file_response(b"<script>alert(1)</script>", content_type, "page.html")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"
    assert "\n" not in response.headers["content-type"]


@pytest.mark.parametrize(
    "content_type",
    ["image/png", "image/jpeg", "audio/wav", "video/mp4", "text/plain", "application/json"],
)
def test_passive_media_text_and_json_are_inline(content_type: str) -> None:
    response = stored_file_response(b"x", content_type, "out.bin")
    assert response.headers["content-disposition"].startswith("inline;")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"].startswith(content_type)


def test_a_stored_path_gets_the_same_headers(tmp_path: Path) -> None:
    path = tmp_path / "x.svg"
    path.write_text("<svg onload='alert(1)'/>")
    response = stored_file_response(path, "image/svg+xml", path.name)
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_filenames_cannot_break_out_of_the_header() -> None:
    value = content_disposition("text/html", '../evil"; filename="x.html\r\nSet-Cookie: a=b')
    assert "\r" not in value and "\n" not in value
    plain = value.split('filename="', 1)[1].split('"', 1)[0]
    assert plain == "evil__filename_x.htmlSet-Cookie__a_b"
    assert value.endswith("filename*=UTF-8''evil%3B%20filename%3Dx.htmlSet-Cookie%3A%20a%3Db")
    assert content_disposition("image/png", "...") == (
        "inline; filename=\"download\"; filename*=UTF-8''download"
    )
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9.txt" in content_disposition(
        "text/plain", "résumé.txt"
    )


def test_media_types_are_sent_without_parameters() -> None:
    assert media_type_of("Text/Plain; charset=latin-1") == "text/plain"
    assert media_type_of("image/png") == "image/png"
    assert media_type_of('text/html; x="a\r\nb"') == "text/html"
