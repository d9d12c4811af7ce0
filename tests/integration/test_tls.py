"""Served over TLS, the official client turns output URLs into file objects with the right bytes."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest
import replicate
import trustme

from tests.integration.harness import Server


def test_file_output_over_tls(
    server_factory: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    srv = server_factory(MODELYARD_TLS_CERT=str(cert_file), MODELYARD_TLS_KEY=str(key_file))
    srv.scheme = "https"
    srv.ca_file = str(ca_file)
    srv.start()
    srv.push("image", "admin/image")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    client = replicate.Client(api_token=srv.token, base_url=srv.url)
    output = client.run("admin/image", input={"size": 16})
    assert isinstance(output, replicate.helpers.FileOutput)
    assert output.url.startswith(srv.url)
    data = output.read()
    assert data.startswith(b"\x89PNG")
    # The same bytes the model wrote: regenerate them with the model's own function.
    spec = importlib.util.spec_from_file_location(
        "pngs", Path(__file__).parents[1] / "models/image/pngs.py"
    )
    assert spec is not None and spec.loader is not None
    pngs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pngs)
    assert hashlib.sha256(data).digest() == hashlib.sha256(pngs.png(16, 16, (200, 30, 60))).digest()
