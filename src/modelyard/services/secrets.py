"""Values of cog `Secret` inputs: redacted in everything stored or shown, kept encrypted
(Fernet, keyed by the platform secret) only until the prediction reaches its instance."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from modelyard.core.errors import ModelyardError

REDACTED = "**********"
SEALED_COLUMN = "secret_input"


class SecretsLost(ModelyardError):
    """The sealed values cannot be opened (the platform secret changed)."""

    title = "Secret inputs unavailable"


class SecretInputs:
    """Seals a prediction's secret inputs at create time and opens them for its instance."""

    def __init__(self, key_source: Callable[[], bytes]) -> None:
        self._key_source = key_source
        self._fernet: Fernet | None = None

    def _box(self) -> Fernet:
        if self._fernet is None:
            material = hashlib.sha256(b"modelyard secret inputs\0" + self._key_source()).digest()
            self._fernet = Fernet(base64.urlsafe_b64encode(material))
        return self._fernet

    def seal(self, cleaned: dict[str, Any], fields: list[str]) -> tuple[dict[str, Any], str | None]:
        """(the input with each secret value replaced by stars, the sealed values or None)."""
        present = {name: cleaned[name] for name in fields if cleaned.get(name) is not None}
        if not present:
            return cleaned, None
        redacted = {**cleaned, **dict.fromkeys(present, REDACTED)}
        sealed = self._box().encrypt(json.dumps(present).encode()).decode()
        return redacted, sealed

    def reveal(self, job_input: dict[str, Any], sealed: str | None) -> dict[str, Any]:
        """The input with the real secret values back in place, for the instance only."""
        if not sealed:
            return job_input
        try:
            values = json.loads(self._box().decrypt(sealed.encode()))
        except (InvalidToken, ValueError) as exc:
            raise SecretsLost(
                "This prediction's secret inputs could not be decrypted (the platform's secret "
                "key changed). Run it again."
            ) from exc
        return {**job_input, **values}
