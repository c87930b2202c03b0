"""Directory storage: accounts, domains, mailboxes, tokens, correspondents (pynamodb stays in here)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.models import Model

from litemx.addresses import ascii_domain, domain_of, normalize_address, person_key
from litemx.directory.models import (
    Account,
    Correspondent,
    Domain,
    EntityKind,
    Mailbox,
    Scope,
    Status,
    Token,
    TokenStatus,
    Verification,
    WebhookRoute,
)
from litemx.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from litemx.plans import LimitOverrides, Plan
from litemx.storage.tables import (
    ACCOUNT_LISTING,
    AccountRecord,
    CorrespondentRecord,
    DirectoryTable,
    DomainRecord,
    MailboxRecord,
    ReplyRightRecord,
    TokenRecord,
)

ACCOUNT_SK, DOMAIN_SK, MAILBOX_SK, TOKEN_SK = "ACCOUNT", "DOMAIN", "MAILBOX", "TOKEN"
CORRESPONDENT_PREFIX = "CORRESPONDENT#"
REPLY_RIGHT_PREFIX = "THREAD#"


def account_key(account_id: str) -> tuple[str, str]:
    return f"ACCOUNT#{account_id}", ACCOUNT_SK


def domain_key(name: str) -> tuple[str, str]:
    return f"DOMAIN#{name}", DOMAIN_SK


def mailbox_key(address: str) -> tuple[str, str]:
    return f"MAILBOX#{address}", MAILBOX_SK


def token_key(token_id: str) -> tuple[str, str]:
    return f"TOKEN#{token_id}", TOKEN_SK


def correspondent_key(mailbox: str, person: str) -> tuple[str, str]:
    """Keyed by the person key (`litemx.addresses.person_key`), like suppression and contact marks."""
    return f"MAILBOX#{mailbox}", f"{CORRESPONDENT_PREFIX}{person}"


def reply_right_key(mailbox: str, rfc_message_id: str) -> tuple[str, str]:
    """Keyed by a hash of the Message-ID, like inbound's markers: fixed length whatever bytes arrive (a
    raw id could push the sort key past DynamoDB's 1,024 bytes and lose the mail)."""
    digest = hashlib.sha256(rfc_message_id.encode("utf-8", "replace")).hexdigest()
    return f"MAILBOX#{mailbox}", f"{REPLY_RIGHT_PREFIX}{digest}"


# ---- record <-> domain mapping (also used by the policy store's batched read) ----


def account_from_record(record: AccountRecord) -> Account:
    return Account(
        account_id=str(record.account_id),
        name=record.name,
        plan=Plan(record.plan),
        status=Status(record.status),
        status_reason=record.status_reason,
        overrides=LimitOverrides(
            mailbox_day=_int(record.limit_mailbox_day),
            account_day=_int(record.limit_account_day),
            account_month=_int(record.limit_account_month),
            recipients_per_message=_int(record.limit_recipients_per_message),
        ),
        created_at=record.created_at,
    )


def domain_from_record(record: DomainRecord) -> Domain:
    return Domain(
        name=record.name,
        account_id=str(record.account_id),
        verification=Verification(record.verification),
        status=Status(record.status),
        status_reason=record.status_reason,
    )


def mailbox_from_record(record: MailboxRecord) -> Mailbox:
    return Mailbox(
        address=record.address,
        account_id=str(record.account_id),
        domain=record.domain,
        status=Status(record.status),
        status_reason=record.status_reason,
        created_at=record.created_at,
        webhooks=webhook_routes(record.webhooks),
    )


def webhook_routes(stored: str | None) -> tuple[WebhookRoute, ...]:
    """The mailbox item's webhook summary; anything unreadable reads as no webhooks (never raises)."""
    try:
        values = json.loads(stored) if stored else []
    except ValueError:
        return ()
    if not isinstance(values, list):
        return ()
    return tuple(
        WebhookRoute(subscription_id=v["id"], include_spam=v.get("spam") is True)
        for v in values
        if isinstance(v, dict) and isinstance(v.get("id"), str)
    )


def webhook_summary(routes: Iterable[WebhookRoute]) -> str | None:
    values = [{"id": r.subscription_id, "spam": r.include_spam} for r in routes]
    return json.dumps(values, separators=(",", ":")) if values else None


def token_from_record(record: TokenRecord) -> Token:
    return Token(
        token_id=record.token_id,
        account_id=str(record.account_id),
        mailbox=record.mailbox,
        scopes=frozenset(Scope(scope) for scope in record.scopes),
        secret_hash=record.secret_hash,
        expires_at=record.expires_at,
        status=TokenStatus(record.status),
        status_reason=record.status_reason,
        description=record.description,
    )


def correspondent_from_record(record: CorrespondentRecord) -> Correspondent:
    return Correspondent(
        mailbox=record.pk.removeprefix("MAILBOX#"),
        address=record.address,
        first_seen=record.first_seen,
        last_seen=record.last_seen,
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class StatusChange:
    kind: EntityKind
    entity_id: str
    account_id: str
    status: str
    reason: str


class DirectoryStore:
    """Reads and writes the directory table. Writes are conditional so that ids never collide."""

    def create_account(self, account: Account, *, now: datetime) -> Account:
        pk, sk = account_key(account.account_id)
        overrides = account.overrides
        record = AccountRecord(
            pk,
            sk,
            account_id=account.account_id,
            name=account.name,
            plan=account.plan.value,
            status=account.status.value,
            status_reason=account.status_reason,
            limit_mailbox_day=overrides.mailbox_day,
            limit_account_day=overrides.account_day,
            limit_account_month=overrides.account_month,
            limit_recipients_per_message=overrides.recipients_per_message,
            created_at=now,
            listing=ACCOUNT_LISTING,
        )
        _save_new(record, f"account {account.account_id}")
        return account_from_record(record)

    def get_account(self, account_id: str) -> Account:
        return account_from_record(_get(AccountRecord, account_key(account_id), f"account {account_id}"))

    def list_accounts(self) -> list[Account]:
        """Every account, by id: a Query of the sparse `accounts` index (eventually consistent: an account
        created a moment ago may be missing for that moment), never a Scan of the directory."""
        index = DirectoryTable.accounts.Meta.index_name
        return [account_from_record(r) for r in AccountRecord.query(ACCOUNT_LISTING, index_name=index)]

    def index_accounts(self) -> int:
        """Give every account item written before the `accounts` index existed its `listing` key, once,
        when upgrading (the one Scan of the directory LiteMX makes, run by an operator); the number of
        accounts it indexed."""
        indexed = 0
        for record in AccountRecord.scan(
            (AccountRecord.sk == ACCOUNT_SK) & AccountRecord.listing.does_not_exist()
        ):
            record.update(
                actions=[AccountRecord.listing.set(ACCOUNT_LISTING)], condition=AccountRecord.sk.exists()
            )
            indexed += 1
        return indexed

    def set_plan(self, account_id: str, plan: Plan, overrides: LimitOverrides | None = None) -> Account:
        record = _get(AccountRecord, account_key(account_id), f"account {account_id}")
        actions = [AccountRecord.plan.set(plan.value)]
        if overrides is not None:
            actions += [
                _set_or_remove(AccountRecord.limit_mailbox_day, overrides.mailbox_day),
                _set_or_remove(AccountRecord.limit_account_day, overrides.account_day),
                _set_or_remove(AccountRecord.limit_account_month, overrides.account_month),
                _set_or_remove(AccountRecord.limit_recipients_per_message, overrides.recipients_per_message),
            ]
        record.update(actions=actions, condition=AccountRecord.pk.exists())
        return account_from_record(record)

    def add_domain(self, name: str, account_id: str, *, now: datetime) -> Domain:
        host = ascii_domain(name)
        if host is None:
            raise InvalidInputError(f"{name!r} is not a valid domain name")
        self.get_account(account_id)
        pk, sk = domain_key(host)
        record = DomainRecord(
            pk,
            sk,
            account_id=account_id,
            name=host,
            verification=Verification.PENDING.value,
            status=Status.ACTIVE.value,
            created_at=now,
        )
        _save_new(record, f"domain {host}")
        return domain_from_record(record)

    def get_domain(self, name: str) -> Domain:
        host = ascii_domain(name) or name
        return domain_from_record(_get(DomainRecord, domain_key(host), f"domain {name}"))

    def set_verification(self, name: str, verification: Verification) -> Domain:
        record = _get(DomainRecord, domain_key(ascii_domain(name) or name), f"domain {name}")
        record.update(
            actions=[DomainRecord.verification.set(verification.value)], condition=DomainRecord.pk.exists()
        )
        return domain_from_record(record)

    def create_mailbox(self, address: str, account_id: str, *, now: datetime) -> Mailbox:
        canonical = normalize_address(address)
        if canonical is None:
            raise InvalidInputError(f"{address!r} is not a valid mail address")
        domain = self.get_domain(domain_of(canonical))
        if domain.account_id != account_id:
            raise InvalidInputError(f"domain {domain.name} does not belong to account {account_id}")
        pk, sk = mailbox_key(canonical)
        record = MailboxRecord(
            pk,
            sk,
            account_id=account_id,
            address=canonical,
            domain=domain.name,
            status=Status.ACTIVE.value,
            created_at=now,
        )
        _save_new(record, f"mailbox {canonical}")
        return mailbox_from_record(record)

    def get_mailbox(self, address: str) -> Mailbox:
        canonical = normalize_address(address) or address
        return mailbox_from_record(_get(MailboxRecord, mailbox_key(canonical), f"mailbox {address}"))

    def list_mailboxes(self, account_id: str) -> list[Mailbox]:
        records = MailboxRecord.query(
            account_id, MailboxRecord.sk == MAILBOX_SK, index_name=DirectoryTable.by_account.Meta.index_name
        )
        return sorted((mailbox_from_record(r) for r in records), key=lambda m: m.address)

    def list_domains(self, account_id: str) -> list[Domain]:
        records = DomainRecord.query(
            account_id, DomainRecord.sk == DOMAIN_SK, index_name=DirectoryTable.by_account.Meta.index_name
        )
        return sorted((domain_from_record(r) for r in records), key=lambda d: d.name)

    def create_token(self, token: Token, *, now: datetime) -> Token:
        mailbox = self.get_mailbox(token.mailbox)
        if mailbox.account_id != token.account_id:
            raise InvalidInputError(
                f"mailbox {mailbox.address} does not belong to account {token.account_id}"
            )
        if not token.scopes:
            raise InvalidInputError("a token needs at least one scope")
        pk, sk = token_key(token.token_id)
        record = TokenRecord(
            pk,
            sk,
            account_id=token.account_id,
            token_id=token.token_id,
            mailbox=mailbox.address,
            scopes={scope.value for scope in token.scopes},
            secret_hash=token.secret_hash,
            status=token.status.value,
            description=token.description,
            expires_at=token.expires_at,
            created_at=now,
        )
        _save_new(record, f"token {token.token_id}")
        return token_from_record(record)

    def get_token(self, token_id: str) -> Token:
        return token_from_record(_get(TokenRecord, token_key(token_id), f"token {token_id}"))

    def list_tokens(self, account_id: str) -> list[Token]:
        records = TokenRecord.query(
            account_id, TokenRecord.sk == TOKEN_SK, index_name=DirectoryTable.by_account.Meta.index_name
        )
        return sorted((token_from_record(r) for r in records), key=lambda t: t.token_id)

    def set_status(self, kind: EntityKind, entity_id: str, status: str, reason: str) -> StatusChange:
        """Disable or enable one entity; conditional on its existence, visible to the very next read."""
        model, key = _STATUS_TARGETS[kind](entity_id)
        record = _get(model, key, f"{kind.value} {entity_id}")
        if kind is EntityKind.TOKEN and record.status == TokenStatus.REVOKED.value and status != "revoked":
            raise InvalidInputError(f"token {entity_id} is revoked for good")
        record.update(
            actions=[model.status.set(status), model.status_reason.set(reason)],
            condition=model.pk.exists(),
        )
        return StatusChange(kind, entity_id, str(record.account_id), status, reason)

    def record_correspondent(self, mailbox: str, address: str, *, now: datetime) -> None:
        """Remember that `address` wrote to `mailbox` (called by inbound, for authenticated mail only)."""
        person = person_key(address)
        pk, sk = correspondent_key(mailbox, person)
        record = CorrespondentRecord(pk, sk)
        record.update(
            actions=[
                CorrespondentRecord.address.set(person),
                CorrespondentRecord.first_seen.set(CorrespondentRecord.first_seen | now),
                CorrespondentRecord.last_seen.set(now),
                CorrespondentRecord.messages.add(1),
            ]
        )

    def record_reply_right(
        self, mailbox: str, rfc_message_id: str, participants: Iterable[str], *, now: datetime
    ) -> None:
        """`mailbox` received `rfc_message_id` and may answer its participants (called by inbound)."""
        pk, sk = reply_right_key(mailbox, rfc_message_id)
        people = {person_key(a) for a in participants}
        ReplyRightRecord(pk, sk, participants=people or None, received_at=now).save()

    def correspondents_of(self, mailbox: str, addresses: Iterable[str]) -> set[str]:
        wanted = {person_key(normalize_address(a) or a) for a in addresses}
        keys = [correspondent_key(mailbox, a) for a in wanted]
        return {r.address for r in CorrespondentRecord.batch_get(keys, consistent_read=True)}


def _status_target(model: type[Model], key_of: Any) -> Any:
    return lambda entity_id: (model, key_of(entity_id))


_STATUS_TARGETS = {
    EntityKind.ACCOUNT: _status_target(AccountRecord, account_key),
    EntityKind.DOMAIN: _status_target(DomainRecord, lambda name: domain_key(ascii_domain(name) or name)),
    EntityKind.MAILBOX: _status_target(MailboxRecord, lambda a: mailbox_key(normalize_address(a) or a)),
    EntityKind.TOKEN: _status_target(TokenRecord, token_key),
}


def _get(model: Any, key: tuple[str, str], what: str) -> Any:
    try:
        return model.get(key[0], key[1], consistent_read=True)
    except DoesNotExist as missing:
        raise NotFoundError(f"{what} does not exist") from missing


def _save_new(record: Any, what: str) -> None:
    try:
        record.save(condition=type(record).pk.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise AlreadyExistsError(f"{what} already exists") from error
        raise


def _set_or_remove(attribute: Any, value: int | None) -> Any:
    return attribute.set(value) if value is not None else attribute.remove()


__all__ = ["DirectoryStore", "StatusChange", "UpdateError"]
