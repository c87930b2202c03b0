"""Authenticating a bearer token, before anything else a request asks for is looked at.

`verify_token` proves the secret (exists, hash matches, live, not expired, holds a wanted scope): the API
runs it first on every route, so that nothing an unauthenticated caller sends is parsed, composed,
remembered or stored. Sends then go through the policy decision, which checks the account, domain and
mailbox itself and audits the outcome. `authenticate` is the whole check for everything else (status,
usage, message status, reading mail): the token, and the account, the mailbox and its domain all active,
with the same reason codes as the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from litemx.addresses import domain_of
from litemx.directory.models import Account, Domain, Mailbox, Scope, Status, Token, TokenStatus
from litemx.directory.tokens import parse_secret, secret_matches
from litemx.errors import NotFoundError
from litemx.policy.reasons import Reason


class TokenReader(Protocol):
    def get_token(self, token_id: str) -> Token: ...
    def get_account(self, account_id: str) -> Account: ...
    def get_mailbox(self, address: str) -> Mailbox: ...
    def get_domain(self, name: str) -> Domain: ...


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


def verify_token(secret: str, directory: TokenReader, *, now: datetime, scopes: frozenset[Scope]) -> Token:
    """The token if the secret is valid, live and holds one of `scopes`; AuthError otherwise. One read."""
    claims = parse_secret(secret)
    if claims is None:
        raise AuthError(Reason.TOKEN_INVALID, "The bearer token is missing or not a LiteMX token.")
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
    return token


def authenticate(
    secret: str, directory: TokenReader, *, now: datetime, scopes: frozenset[Scope]
) -> Principal:
    """The token's principal if the secret is valid, live and holds one of `scopes`, and its account,
    mailbox and the mailbox's domain are active; AuthError otherwise. Disabling any of them stops every
    use of the token, reads included (docs/policy.md, "Disablement")."""
    token = verify_token(secret, directory, now=now, scopes=scopes)
    account = _live_account(token, directory)
    name = domain_of(token.mailbox)
    try:
        domain = directory.get_domain(name)
        mailbox = directory.get_mailbox(token.mailbox)
    except NotFoundError:
        raise AuthError(
            Reason.MAILBOX_NOT_FOUND, f"{token.mailbox} is not a mailbox of this account."
        ) from None
    if domain.account_id != account.account_id:
        raise AuthError(Reason.DOMAIN_NOT_OWNED, f"Domain {name} is not registered to this account.")
    if domain.status is not Status.ACTIVE:
        raise AuthError(Reason.DOMAIN_DISABLED, f"Domain {name} is disabled: {domain.status_reason}.")
    if mailbox.account_id != account.account_id:
        raise AuthError(Reason.MAILBOX_NOT_FOUND, f"{token.mailbox} is not a mailbox of this account.")
    if mailbox.status is not Status.ACTIVE:
        raise AuthError(
            Reason.MAILBOX_DISABLED, f"Mailbox {mailbox.address} is disabled: {mailbox.status_reason}."
        )
    return Principal(token=token, account=account)


def _live_account(token: Token, directory: TokenReader) -> Account:
    try:
        account = directory.get_account(token.account_id)
    except NotFoundError:
        raise AuthError(Reason.ACCOUNT_DISABLED, f"Account {token.account_id} does not exist.") from None
    if account.status is not Status.ACTIVE:
        raise AuthError(
            Reason.ACCOUNT_DISABLED, f"Account {account.account_id} is disabled: {account.status_reason}."
        )
    return account
