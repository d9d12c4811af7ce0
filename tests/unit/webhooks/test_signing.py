from __future__ import annotations

import base64
import json

import pytest
from replicate.webhook import Webhooks, WebhookSigningSecret
from standardwebhooks.webhooks import Webhook

from modelyard.webhooks.signing import (
    generate_secret,
    new_message_id,
    sign,
    signed_headers,
    verify,
)

# The Standard Webhooks / Svix reference vector, also used by the npm replicate client's tests.
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_sign_reproduces_reference_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE


def test_generated_secret_uses_standard_padded_base64() -> None:
    for _ in range(200):
        secret = generate_secret()
        prefix, _, encoded = secret.partition("_")
        assert prefix == "whsec"
        assert "_" not in encoded and "-" not in encoded
        assert len(encoded) % 4 == 0
        assert 24 <= len(base64.b64decode(encoded, validate=True)) <= 32


def test_generate_secret_refuses_short_keys() -> None:
    with pytest.raises(ValueError):
        generate_secret(16)


def test_message_ids_are_prefixed_alphanumeric_and_unique() -> None:
    ids = {new_message_id() for _ in range(100)}
    assert len(ids) == 100
    for msg_id in ids:
        assert msg_id.startswith("msg_")
        assert len(msg_id) >= 4 + 24
        assert msg_id[4:].isalnum() and msg_id[4:].isascii()


def test_signed_headers_validate_with_standardwebhooks() -> None:
    secret = generate_secret()
    body = json.dumps({"id": "ufawqhfynnddngldkgtslldrkq", "status": "succeeded"}).encode()
    headers = signed_headers(secret, new_message_id(), body)
    assert headers["content-type"] == "application/json"
    assert Webhook(secret).verify(body, headers) == json.loads(body)


def test_signed_headers_validate_with_replicate_client() -> None:
    secret = generate_secret()
    body = b'{"status": "processing"}'
    headers = signed_headers(secret, new_message_id(), body)
    key = WebhookSigningSecret(key=secret)
    assert Webhooks.validate(headers=headers, body=body.decode(), secret=key, tolerance=60) is None


def test_verify_accepts_own_signature_and_rejects_tampering() -> None:
    secret = generate_secret()
    headers = signed_headers(secret, "msg_abc", b"{}", timestamp=1_000)
    assert verify(secret, headers, b"{}", now=1_010)
    assert not verify(secret, headers, b"{ }", now=1_010)
    assert not verify(generate_secret(), headers, b"{}", now=1_010)
    assert not verify(secret, headers, b"{}", now=2_000)
    assert verify(secret, headers, b"{}", tolerance=None, now=2_000)


def test_verify_finds_one_valid_signature_among_several() -> None:
    headers = {
        "Webhook-Id": VECTOR_ID,
        "Webhook-Timestamp": str(VECTOR_TS),
        "Webhook-Signature": f"v1,bm90LWl0 v2,whatever {VECTOR_SIGNATURE}",
    }
    assert verify(VECTOR_SECRET, headers, VECTOR_BODY, tolerance=None)


def test_sign_refuses_a_secret_that_is_not_base64() -> None:
    with pytest.raises(ValueError):
        sign("whsec_not*base64", "msg_x", 1, b"{}")
