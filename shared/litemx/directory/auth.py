"""Authenticating a bearer token for requests that are not sends (status, usage, reading mail).

Sends go through the policy decision, which verifies the token in its own batched read; this is the same
verification for everything else, with the same reason codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from litemx.directory.models import Account, Scope, Status, Token, TokenStatus
from litemx.directory.tokens import parse_secret, secret_matches
from litemx.errors import NotFoundError
from litemx.policy.reasons import Reason


class TokenReader(Protocol):
    def get_token(self, token_id: str) -> Token: ...
    def get_account(self, account_id: str) -> Account: ...


class AuthError(Exception):
    """A refused credential: `reason` carries the stable code and HTTP status."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Principal:
    token: Token
    account: Account

    @property
    def account_id(self) -> str:
        return self.account.account_id

    @property
    def mailbox(self) -> str:
        return self.token.mailbox


def authenticate(
    secret: str, directory: TokenReader, *, now: datetime, scopes: frozenset[Scope]
) -> Principal:
    """The token's principal if the secret is valid, live and holds one of `scopes`; AuthError otherwise."""
    claims = parse_secret(secret)
    if claims is None:
        raise AuthError(Reason.TOKEN_INVALID, "The bearer token is not a LiteMX token.")
    try:
        token = directory.get_token(claims.token_id)
    except NotFoundError:
        raise AuthError(Reason.TOKEN_INVALID, "The bearer token is unknown.") from None
    if token.account_id != claims.account_id or not secret_matches(secret, token.secret_hash):
        raise AuthError(Reason.TOKEN_INVALID, "The bearer token is unknown.")
    if token.status is TokenStatus.REVOKED:
        raise AuthError(Reason.TOKEN_REVOKED, f"Token {token.token_id} was revoked.")
    if token.status is TokenStatus.DISABLED:
        raise AuthError(Reason.TOKEN_DISABLED, f"Token {token.token_id} is disabled: {token.status_reason}.")
    if token.expires_at is not None and token.expires_at <= now:
        raise AuthError(Reason.TOKEN_EXPIRED, f"Token {token.token_id} expired.")
    if not token.scopes & scopes:
        wanted = " or ".join(sorted(s.value for s in scopes))
        raise AuthError(Reason.SCOPE_DENIED, f"Token {token.token_id} lacks the {wanted} scope.")
    try:
        account = directory.get_account(token.account_id)
    except NotFoundError:
        raise AuthError(Reason.ACCOUNT_DISABLED, f"Account {token.account_id} does not exist.") from None
    if account.status is not Status.ACTIVE:
        raise AuthError(
            Reason.ACCOUNT_DISABLED, f"Account {account.account_id} is disabled: {account.status_reason}."
        )
    return Principal(token=token, account=account)
