"""Secret inputs: redacted for storage, sealed until the instance gets them."""

from __future__ import annotations

import pytest

from modelyard.services.secrets import REDACTED, SecretInputs, SecretsLost


def test_seal_redacts_and_reveal_restores() -> None:
    box = SecretInputs(lambda: b"platform secret")
    redacted, sealed = box.seal({"api_key": "sk-live-123", "prompt": "hi"}, ["api_key"])
    assert redacted == {"api_key": REDACTED, "prompt": "hi"}
    assert sealed is not None and "sk-live-123" not in sealed
    assert box.reveal(redacted, sealed) == {"api_key": "sk-live-123", "prompt": "hi"}
    assert box.seal({"prompt": "hi"}, ["api_key"]) == ({"prompt": "hi"}, None)
    assert box.reveal({"prompt": "hi"}, None) == {"prompt": "hi"}


def test_another_platform_secret_cannot_open_it() -> None:
    _, sealed = SecretInputs(lambda: b"one").seal({"k": "v"}, ["k"])
    with pytest.raises(SecretsLost):
        SecretInputs(lambda: b"two").reveal({}, sealed)
