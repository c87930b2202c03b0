"""Domain types of the directory; storage classes never leave the store module."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from litemx.plans import LimitOverrides, Plan


class Status(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class TokenStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    REVOKED = "revoked"


class Verification(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"


class Scope(StrEnum):
    SEND = "send"
    SEND_REPLY = "send:reply"
    READ = "read"
    # May write drafts (docs/agents.md) and never send: a person approves each one.
    DRAFT = "draft"


class EntityKind(StrEnum):
    """What can be disabled and enabled by an operator."""

    ACCOUNT = "account"
    DOMAIN = "domain"
    MAILBOX = "mailbox"
    TOKEN = "token"  # noqa: S105 - an entity kind, not a secret


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    plan: Plan
    status: Status = Status.ACTIVE
    status_reason: str | None = None
    overrides: LimitOverrides = field(default_factory=LimitOverrides)
    created_at: datetime | None = None  # starts the warm-up schedule (litemx.policy.warmup)


@dataclass(frozen=True)
class Domain:
    name: str
    account_id: str
    verification: Verification = Verification.PENDING
    status: Status = Status.ACTIVE
    status_reason: str | None = None


@dataclass(frozen=True)
class WebhookRoute:
    """A mailbox's webhook subscription as inbound needs it: carried on the mailbox item, which inbound
    reads anyway to route the mail, so announcing new mail costs no DynamoDB request of its own."""

    subscription_id: str
    include_spam: bool = False


@dataclass(frozen=True)
class Mailbox:
    address: str
    account_id: str
    domain: str
    status: Status = Status.ACTIVE
    status_reason: str | None = None
    created_at: datetime | None = None  # starts the mailbox's warm-up schedule
    webhooks: tuple[WebhookRoute, ...] = ()


@dataclass(frozen=True)
class Token:
    """A send/read credential; only the SHA-256 of its secret is ever stored."""

    token_id: str
    account_id: str
    mailbox: str
    scopes: frozenset[Scope]
    secret_hash: str
    expires_at: datetime | None = None
    status: TokenStatus = TokenStatus.ACTIVE
    status_reason: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Correspondent:
    """An outside address that has written to a mailbox; replies to it are not cold outbound."""

    mailbox: str
    address: str
    first_seen: datetime
    last_seen: datetime
