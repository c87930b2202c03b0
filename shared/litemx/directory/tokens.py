"""Token secrets: `lmx_<account>_<token>_<random>`.

The recognisable `lmx_` prefix lets secret scanners find leaked tokens. The account and token ids inside
the secret are only claims: they locate the stored record in the same batched read as everything else a
decision needs, and the SHA-256 of the whole secret must match the stored hash before any claim is believed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from litemx.ids import ACCOUNT_ID, TOKEN_ID

SECRET_PREFIX = "lmx"  # noqa: S105 - the public prefix of every secret


@dataclass(frozen=True)
class SecretClaims:
    account_id: str
    token_id: str


def make_secret(account_id: str, token_id: str) -> str:
    return f"{SECRET_PREFIX}_{account_id}_{token_id}_{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_secret(secret: str) -> SecretClaims | None:
    """The ids a secret claims, or None when it is not shaped like a LiteMX token at all."""
    parts = secret.split("_", 3)
    if len(parts) != 4 or parts[0] != SECRET_PREFIX or not parts[3]:
        return None
    account_id, token_id = parts[1], parts[2]
    if not ACCOUNT_ID.match(account_id) or not TOKEN_ID.match(token_id):
        return None
    return SecretClaims(account_id=account_id, token_id=token_id)


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
