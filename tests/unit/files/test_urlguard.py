from __future__ import annotations

import ipaddress

import pytest

from modelyard.core.errors import InvalidInput
from modelyard.files.urlguard import check_url, check_url_async, is_private_address

PRIVATE_URLS = [
    "http://127.0.0.1/",
    "http://localhost:8000/x",
    "http://api.localhost/",
    "http://[::1]/",
    "http://10.1.2.3/",
    "http://169.254.169.254/latest/meta-data/",
    "http://192.168.0.10/",
    "http://172.16.5.4/",
    "http://0.0.0.0/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://100.64.0.1/",
    "http://[2002:7f00:1::]/",
    "http://[64:ff9b::a00:1]/",
    "https://user:hunter2@127.0.0.1/path?token=s3cret",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_url(url, allow_private=False, field="input.image")
    detail = info.value.detail
    assert detail.startswith("input.image ")
    assert "private network" in detail
    assert "--allow-private-networks" in detail
    assert "MODELYARD_ALLOW_PRIVATE_NETWORKS=1" in detail
    assert "hunter2" not in detail and "s3cret" not in detail and "127.0.0.1" not in detail


def test_numeric_host_forms_are_resolved_and_refused() -> None:
    # getaddrinfo turns these into 127.0.0.1 without asking any name server.
    for url in ("http://2130706433/", "http://127.1/"):
        with pytest.raises(InvalidInput):
            check_url(url, allow_private=False, field="webhook")


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_addresses_pass_when_allowed(url: str) -> None:
    check_url(url, allow_private=True, field="input.image")


@pytest.mark.parametrize(
    "url",
    ["ftp://93.184.216.34/x", "file:///etc/passwd", "gopher://127.0.0.1/", "javascript:alert(1)"],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_non_http_schemes_are_refused(url: str, allow_private: bool) -> None:
    with pytest.raises(InvalidInput) as info:
        check_url(url, allow_private=allow_private, field="webhook")
    assert info.value.detail == "webhook must be an http or https URL"


@pytest.mark.parametrize("url", ["http://", "https:///path", "http://:80/", "not a url"])
def test_urls_without_host_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_url(url, allow_private=True, field="webhook")
    assert info.value.detail.startswith("webhook must be")


def test_bad_port_is_refused() -> None:
    with pytest.raises(InvalidInput):
        check_url("http://93.184.216.34:99999/", allow_private=False, field="webhook")


@pytest.mark.parametrize(
    "url",
    ["http://93.184.216.34/image.png", "HTTPS://93.184.216.34:8443/", "http://[2606:4700::1]/"],
)
def test_public_literal_addresses_pass(url: str) -> None:
    check_url(url, allow_private=False, field="input.image")


async def test_async_variant_refuses_and_passes() -> None:
    with pytest.raises(InvalidInput):
        await check_url_async("http://localhost/", allow_private=False, field="webhook")
    await check_url_async("http://93.184.216.34/", allow_private=False, field="webhook")


def test_is_private_address_looks_inside_mapped_forms() -> None:
    assert is_private_address(ipaddress.ip_address("::ffff:10.0.0.1"))
    assert not is_private_address(ipaddress.ip_address("8.8.8.8"))
