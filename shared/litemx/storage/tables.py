"""pynamodb models of every LiteMX table.

Table names come from configuration at the edge (`bind_tables`), never from the environment here. The
infra tests check that the CDK tables have exactly these key schemas, and the integration tests create
their tables from these models, so storage and deployment cannot drift apart.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from litemx.storage.session import shared_connection


@dataclass(frozen=True)
class TableNames:
    directory: str
    suppression: str
    usage: str
    audit: str
    messages: str
    idempotency: str
    inbound: str
    feedback: str
    reputation: str
    webhooks: str

    @classmethod
    def with_prefix(cls, prefix: str) -> TableNames:
        return cls(**{f.name: f"{prefix}-{f.name}" for f in fields(cls)})


ACCOUNT_LISTING = "ACCOUNT"


class _ByAccountIndex(GlobalSecondaryIndex["DirectoryTable"]):  # type: ignore[no-untyped-call]
    """Lists an account's domains, mailboxes and tokens (sk tells which)."""

    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class _AccountsIndex(GlobalSecondaryIndex["DirectoryTable"]):  # type: ignore[no-untyped-call]
    """Lists every account and nothing else: only account items carry `listing` (a sparse index), so
    listing accounts never reads the correspondents, contacts and reply rights the table also holds."""

    class Meta:
        index_name = "accounts"
        projection = AllProjection()

    listing = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute(range_key=True)


class DirectoryTable(Model):
    """Accounts, domains, mailboxes, tokens and correspondents, one item each."""

    class Meta:
        table_name = "unbound-directory"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    account_id = UnicodeAttribute(null=True)
    listing = UnicodeAttribute(null=True)  # ACCOUNT_LISTING on account items only (the `accounts` index)
    by_account = _ByAccountIndex()
    accounts = _AccountsIndex()


class AccountRecord(DirectoryTable):
    name = UnicodeAttribute()
    plan = UnicodeAttribute()
    status = UnicodeAttribute()
    status_reason = UnicodeAttribute(null=True)
    limit_mailbox_day = NumberAttribute(null=True)
    limit_account_day = NumberAttribute(null=True)
    limit_account_month = NumberAttribute(null=True)
    limit_recipients_per_message = NumberAttribute(null=True)
    created_at = UTCDateTimeAttribute()


class DomainRecord(DirectoryTable):
    name = UnicodeAttribute()
    verification = UnicodeAttribute()
    status = UnicodeAttribute()
    status_reason = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()


class MailboxRecord(DirectoryTable):
    address = UnicodeAttribute()
    domain = UnicodeAttribute()
    status = UnicodeAttribute()
    status_reason = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    # The mailbox's webhook subscriptions as inbound needs them (JSON list of {"id", "spam"}); the
    # subscriptions themselves are in the webhooks table.
    webhooks = UnicodeAttribute(null=True)


class TokenRecord(DirectoryTable):
    token_id = UnicodeAttribute()
    mailbox = UnicodeAttribute()
    scopes = UnicodeSetAttribute()
    secret_hash = UnicodeAttribute()
    status = UnicodeAttribute()
    status_reason = UnicodeAttribute(null=True)
    description = UnicodeAttribute(default="")
    expires_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()


class CorrespondentRecord(DirectoryTable):
    address = UnicodeAttribute()
    first_seen = UTCDateTimeAttribute()
    last_seen = UTCDateTimeAttribute()
    messages = NumberAttribute(default=0)


class ReplyRightRecord(DirectoryTable):
    """A received message that may be answered (pk `MAILBOX#<box>`, sk `THREAD#<Message-ID>`): clean,
    From authenticated, not from the mailbox itself. `participants` are the person keys a reply-only
    token may write to when answering it (its From, Reply-To, To and Cc)."""

    participants = UnicodeSetAttribute(null=True)
    received_at = UTCDateTimeAttribute()


class ContactRecord(DirectoryTable):
    """A recipient this mailbox has already written to (pk `MAILBOX#<box>`, sk `CONTACT#<address>`):
    writing to them again is not a first contact. Written in the send's quota transaction."""

    address = UnicodeAttribute()
    first_at = UTCDateTimeAttribute()
    # The queued message whose first contact created the mark (a refund removes only its own marks), and
    # when a later send relied on the mark (then the mark is no longer that message's alone to give back).
    message_id = UnicodeAttribute(null=True)
    relied_at = UTCDateTimeAttribute(null=True)


class DraftRecord(DirectoryTable):
    """A message an agent drafted for a person to approve (pk `DRAFT#<id>`, sk `DRAFT#<mailbox>#<id>`):
    a mailbox's drafts are listed newest first on the by_account index (ids sort by time). `content` is
    the draft as JSON; `message_id` is the id its send will have, so that an approval sends it at most
    once."""

    mailbox = UnicodeAttribute()
    token_id = UnicodeAttribute()
    status = UnicodeAttribute()
    content = UnicodeAttribute()
    reply_of = UnicodeAttribute(null=True)
    message_id = UnicodeAttribute()
    refusal_code = UnicodeAttribute(null=True)
    refusal_message = UnicodeAttribute(null=True)
    refused_at = UTCDateTimeAttribute(null=True)
    refused_by = UnicodeAttribute(null=True)
    approved_by = UnicodeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class AccountPolicyRecord(DirectoryTable):
    """Operator overrides of the anti-cold-outbound rules for one account (sk `POLICY`)."""

    first_contacts_day = NumberAttribute(null=True)  # per mailbox
    account_first_contacts_day = NumberAttribute(null=True)  # all mailboxes together
    warmup_waived = BooleanAttribute(null=True)
    updated_at = UTCDateTimeAttribute()


class SuppressionRecord(Model):
    """pk: `global` or an account id; sk: the canonical address. Soft causes expire by TTL."""

    class Meta:
        table_name = "unbound-suppression"

    scope = UnicodeAttribute(hash_key=True)
    address = UnicodeAttribute(range_key=True)
    reason = UnicodeAttribute()
    source = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at = NumberAttribute(null=True)  # epoch seconds: the table's TTL attribute


class UsageCounter(Model):
    """One counter per cap and window (`mailbox#a@b#day#2026-11-24`); expires by TTL after its window."""

    class Meta:
        table_name = "unbound-usage"

    key = UnicodeAttribute(hash_key=True)
    used = NumberAttribute(default=0)
    expires_at = NumberAttribute(null=True)


class AuditEntry(Model):
    """pk: account id; sk: `<ISO time>#<request id>` so that an account's trail lists by time."""

    class Meta:
        table_name = "unbound-audit"

    account_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    at = UTCDateTimeAttribute()
    request_id = UnicodeAttribute()
    event = UnicodeAttribute()
    actor = UnicodeAttribute()
    outcome = UnicodeAttribute()
    reason_code = UnicodeAttribute(null=True)
    message = UnicodeAttribute(default="")
    mailbox = UnicodeAttribute(null=True)
    recipients_count = NumberAttribute(default=0)
    details = UnicodeAttribute(default="{}")  # JSON object of strings
    expires_at = NumberAttribute(null=True)  # TTL: `at` + the deployment's audit retention


class _ByProviderIdIndex(GlobalSecondaryIndex["MessageRecord"]):  # type: ignore[no-untyped-call]
    """Finds a message from the provider's id for it (SES identity notifications carry nothing else)."""

    class Meta:
        index_name = "by_provider_message_id"
        projection = KeysOnlyProjection()

    provider_message_id = UnicodeAttribute(hash_key=True)


class MessageRecord(Model):
    """One outbound message and its delivery state; kept 90 days (TTL)."""

    class Meta:
        table_name = "unbound-messages"

    message_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    mailbox = UnicodeAttribute()
    token_id = UnicodeAttribute()
    recipients = ListAttribute(of=UnicodeAttribute)
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    raw_key = UnicodeAttribute()
    subject = UnicodeAttribute(default="")
    rfc_message_id = UnicodeAttribute(default="")
    reserved = UnicodeAttribute(default="[]")  # JSON list of [counter key, amount]
    attempts = NumberAttribute(default=0)
    lease_until = UTCDateTimeAttribute(null=True)
    provider = UnicodeAttribute(null=True)
    provider_message_id = UnicodeAttribute(null=True)
    reason_code = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    events = UnicodeSetAttribute(null=True)
    expires_at = NumberAttribute(null=True)
    by_provider_message_id = _ByProviderIdIndex()


class IdempotencyRecord(Model):
    """The layout Powertools idempotency uses (id, expiration TTL); declared so tests can create it."""

    class Meta:
        table_name = "unbound-idempotency"

    id = UnicodeAttribute(hash_key=True)
    expiration = NumberAttribute(null=True)


class InboundTable(Model):
    """Received mail, per mailbox. sk `<folder>#<received>#<ses id>` lists a folder newest first (reply
    rights, which the policy reads, are `ReplyRightRecord`s in the directory)."""

    class Meta:
        table_name = "unbound-inbound"

    mailbox = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    expires_at = NumberAttribute(null=True)  # TTL: received + the raw mail's retention (the S3 lifecycle)


class InboundMessageRecord(InboundTable):
    ses_message_id = UnicodeAttribute()
    folder = UnicodeAttribute()
    received_at = UTCDateTimeAttribute()
    from_address = UnicodeAttribute(default="")
    from_header = UnicodeAttribute(default="")
    to = ListAttribute(of=UnicodeAttribute, default=list)
    cc = ListAttribute(of=UnicodeAttribute, default=list)
    reply_to = ListAttribute(of=UnicodeAttribute, default=list)  # replies go here (read API, reply endpoint)
    subject = UnicodeAttribute(default="")
    rfc_message_id = UnicodeAttribute(default="")
    in_reply_to = UnicodeAttribute(default="")
    references = ListAttribute(of=UnicodeAttribute, default=list)
    size = NumberAttribute(default=0)
    bucket = UnicodeAttribute()
    raw_key = UnicodeAttribute()
    verdicts = UnicodeAttribute(default="{}")  # JSON object: spam, virus, spf, dkim, dmarc, dmarc_policy
    flags = UnicodeSetAttribute(null=True)


class FeedbackTable(Model):
    """Feedback bookkeeping: `event#<feedback id>` (applied once), `soft#<address>` (transient bounces)."""

    class Meta:
        table_name = "unbound-feedback"

    key = UnicodeAttribute(hash_key=True)
    expires_at = NumberAttribute(null=True)


class FeedbackEventRecord(FeedbackTable):
    kind = UnicodeAttribute()
    at = UTCDateTimeAttribute()


class SoftBounceRecord(FeedbackTable):
    bounces = UnicodeSetAttribute(null=True)  # `<ISO time>#<feedback id>`: adding is idempotent


class ReputationBucket(Model):
    """One hour of one mailbox's sending outcomes, in its account's partition: `account` and `slot`
    (`<YYYY-MM-DDTHH>#<mailbox>`, which sorts by hour), so that an account's window is one Query."""

    class Meta:
        table_name = "unbound-reputation"

    account = UnicodeAttribute(hash_key=True)
    slot = UnicodeAttribute(range_key=True)
    sends = NumberAttribute(default=0)
    deliveries = NumberAttribute(default=0)
    hard_bounces = NumberAttribute(default=0)
    soft_bounces = NumberAttribute(default=0)
    complaints = NumberAttribute(default=0)
    expires_at = NumberAttribute(null=True)


class WebhookTable(Model):
    """Webhooks per mailbox: `sub#<id>` (a subscription), `slot#<id>#<n>` (a concurrency slot, leased),
    `dlv#<message id>#<subscription id>` (one event's delivery; expires after 14 days)."""

    class Meta:
        table_name = "unbound-webhooks"

    mailbox = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    expires_at = NumberAttribute(null=True)


class WebhookSubscriptionRecord(WebhookTable):
    subscription_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    url = UnicodeAttribute()
    secret = UnicodeAttribute()
    include_spam = BooleanAttribute(default=False)
    timeout_seconds = NumberAttribute()
    concurrency = NumberAttribute()
    created_at = UTCDateTimeAttribute()


class WebhookSlotRecord(WebhookTable):
    holder = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # epoch milliseconds


class WebhookDeliveryRecord(WebhookTable):
    webhook_id = UnicodeAttribute()
    subscription_id = UnicodeAttribute()
    message_id = UnicodeAttribute()
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(default="")
    last_status_code = NumberAttribute(null=True)
    first_attempt_at = UTCDateTimeAttribute(null=True)
    last_attempt_at = UTCDateTimeAttribute(null=True)
    next_attempt_at = UTCDateTimeAttribute(null=True)


class WebhookItem(WebhookTable):
    """Reads a subscription and a delivery in one BatchGetItem: each item comes back as its own kind."""

    @classmethod
    def from_raw_data(cls, data: dict[str, Any]) -> Any:
        sk = str(data.get("sk", {}).get("S", ""))
        kind: type[Model] = WebhookDeliveryRecord if sk.startswith("dlv#") else WebhookSubscriptionRecord
        return kind.from_raw_data(data)


TTL_ATTRIBUTE = "expires_at"
ALL_TABLE_MODELS: dict[str, type[Model]] = {
    "directory": DirectoryTable,
    "suppression": SuppressionRecord,
    "usage": UsageCounter,
    "audit": AuditEntry,
    "messages": MessageRecord,
    "idempotency": IdempotencyRecord,
    "inbound": InboundTable,
    "feedback": FeedbackTable,
    "reputation": ReputationBucket,
    "webhooks": WebhookTable,
}
# The TTL attribute of each table whose items expire (Powertools names its own `expiration`).
TTL_ATTRIBUTES: dict[str, str] = {
    "suppression": TTL_ATTRIBUTE,
    "usage": TTL_ATTRIBUTE,
    "messages": TTL_ATTRIBUTE,
    "idempotency": "expiration",
    "feedback": TTL_ATTRIBUTE,
    "reputation": TTL_ATTRIBUTE,
    "audit": TTL_ATTRIBUTE,
    "inbound": TTL_ATTRIBUTE,
    "webhooks": TTL_ATTRIBUTE,
}
_ENTITY_MODELS: dict[str, tuple[type[Model], ...]] = {
    "directory": (
        DirectoryTable,
        AccountRecord,
        DomainRecord,
        MailboxRecord,
        TokenRecord,
        CorrespondentRecord,
        ContactRecord,
        AccountPolicyRecord,
        ReplyRightRecord,
        DraftRecord,
    ),
    "suppression": (SuppressionRecord,),
    "usage": (UsageCounter,),
    "audit": (AuditEntry,),
    "messages": (MessageRecord,),
    "idempotency": (IdempotencyRecord,),
    "inbound": (InboundTable, InboundMessageRecord),
    "feedback": (FeedbackTable, FeedbackEventRecord, SoftBounceRecord),
    "reputation": (ReputationBucket,),
    "webhooks": (
        WebhookTable,
        WebhookSubscriptionRecord,
        WebhookSlotRecord,
        WebhookDeliveryRecord,
        WebhookItem,
    ),
}


def bind_tables(names: TableNames, region: str | None = None) -> None:
    """Point every model at its configured table, all through the process's one DynamoDB connection
    (litemx.storage.session): pynamodb would otherwise give each model class a botocore session and client
    of its own, loading DynamoDB's service model once per class on a handler's first call.

    A model already bound to the same table and region keeps its connection: rebinding happens on every
    warm start of a test world."""
    connection = shared_connection(region)
    for table, models in _ENTITY_MODELS.items():
        for model in models:
            name = getattr(names, table)
            if _bound_to(model, name, region):
                continue
            model.Meta.table_name = name
            if region is not None:
                model.Meta.region = region
            model._connection = None
            bound = model._get_connection()
            with contextlib.suppress(ValueError):  # another entity model of this table added it
                connection.add_meta_table(bound.connection.get_meta_table(bound.table_name))
            bound.connection = connection


def _bound_to(model: type[Model], name: str, region: str | None) -> bool:
    """Whether the model's live connection already points at this table (models share a Meta with
    their base, so the connection, not Meta, tells what each one is bound to)."""
    connection = model._connection
    if connection is None or connection.table_name != name:
        return False
    return region is None or connection.connection.region == region


def table_name(model: type[Model]) -> str:
    name: Any = model.Meta.table_name
    return str(name)
