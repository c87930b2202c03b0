"""Drafts and their approval (litemx.drafts.logic) on in-memory fakes: one decision, sent at most once,
refusals kept on the draft, a preview that writes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import pytest

from litemx.clock import FixedClock
from litemx.directory.models import Scope, Token
from litemx.directory.tokens import hash_secret, make_secret
from litemx.drafts.logic import Approver, approve, create_draft, update_draft, verdict
from litemx.drafts.models import (
    DraftNotFoundError,
    DraftNotPendingError,
    DraftRefusal,
    DraftStatus,
    DraftTooLargeError,
    StoredDraft,
)
from litemx.mail.compose import Attachment, Draft
from litemx.messages.models import MessageStatus, OutboundMessage
from litemx.outbound.service import OutboundDeps, OutboundUnavailableError
from litemx.suppression.models import GLOBAL_SCOPE, SuppressionEntry
from tests.fakes import ACCOUNT_ID, MAILBOX, T0, TOKEN_ID, FakeAudit, FakePolicyStore, standard_world

OPERATOR = Approver(actor="operator:alice", operator=True)


@dataclass
class FakeDraftStore:
    drafts: dict[str, StoredDraft] = field(default_factory=dict)

    def create(self, draft: StoredDraft) -> None:
        self.drafts[draft.draft_id] = draft

    def get(self, mailbox: str, draft_id: str) -> StoredDraft:
        found = self.drafts.get(draft_id)
        if found is None or found.mailbox != mailbox:
            raise DraftNotFoundError(draft_id)
        return found

    def find(self, draft_id: str) -> StoredDraft:
        if draft_id not in self.drafts:
            raise DraftNotFoundError(draft_id)
        return self.drafts[draft_id]

    def list(self, account_id: str, mailbox: str | None = None) -> list[StoredDraft]:
        return sorted(self.drafts.values(), key=lambda d: d.draft_id, reverse=True)

    def replace_content(self, draft: StoredDraft, content: Draft, *, now: datetime) -> StoredDraft:
        if self.drafts[draft.draft_id].status is not DraftStatus.PENDING:
            raise DraftNotPendingError(draft.draft_id)
        self.drafts[draft.draft_id] = replace(draft, content=content, updated_at=now, refusal=None)
        return self.drafts[draft.draft_id]

    def delete(self, draft: StoredDraft) -> None:
        del self.drafts[draft.draft_id]

    def record_refusal(self, draft: StoredDraft, refusal: DraftRefusal, *, message_id: str) -> bool:
        current = self.drafts[draft.draft_id]
        if current.status is not DraftStatus.PENDING:
            return False
        self.drafts[draft.draft_id] = replace(current, refusal=refusal, message_id=message_id)
        return True

    def mark_sent(self, draft: StoredDraft, *, approved_by: str, at: datetime) -> StoredDraft:
        current = self.drafts[draft.draft_id]
        if current.status is DraftStatus.PENDING:
            current = replace(
                current, status=DraftStatus.SENT, approved_by=approved_by, sent_at=at, refusal=None
            )
            self.drafts[draft.draft_id] = current
        return current


@dataclass
class Outbound:
    """The send path's other ports: what was stored, queued, refunded and failed."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    queued: list[str] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    queue_down: bool = False
    inline: dict[str, bytes] = field(default_factory=dict)

    def put(self, key: str, data: bytes) -> None:
        self.blobs[key] = data

    def get(self, key: str) -> bytes:
        return self.blobs[key]

    def enqueue(self, message_id: str, raw: bytes | None = None) -> None:
        if self.queue_down:
            raise ConnectionError("queue unreachable")
        self.queued.append(message_id)
        if raw is not None:  # a small message's MIME rides in its queue message
            self.inline[message_id] = raw

    def refund(self, message: OutboundMessage) -> None:
        self.refunded.append(message.message_id)

    def transition(self, message: OutboundMessage, status: MessageStatus, **_: object) -> OutboundMessage:
        self.failed.append(message.message_id)
        return replace(message, status=status)


def setting(
    scopes: frozenset[Scope] = frozenset({Scope.DRAFT}),
) -> tuple[FakePolicyStore, OutboundDeps, Outbound]:
    world, _ = standard_world(scopes=scopes)
    ports = Outbound()
    deps = OutboundDeps(
        policy=world,
        messages=ports,  # type: ignore[arg-type]  # only transition is used on this path
        blobs=ports,
        queue=ports,
        quotas=ports,
        audit=FakeAudit(),
        clock=FixedClock(T0),
        max_message_bytes=10_000_000,
    )
    return world, deps, ports


def written(store: FakeDraftStore, *to: str, token_id: str = TOKEN_ID) -> StoredDraft:
    content = Draft(from_address="ignored@elsewhere.test", to=to, subject="Hi", text="Hello.")
    return create_draft(
        store, account_id=ACCOUNT_ID, mailbox=MAILBOX, token_id=token_id, content=content, now=T0
    )


def test_a_draft_is_from_its_mailbox_and_its_send_id_is_fixed():
    store = FakeDraftStore()
    draft = written(store, "friend@outside.test")
    assert draft.content.from_address == MAILBOX
    assert draft.message_id == f"msg-{draft.draft_id.removeprefix('drf-')}"
    assert draft.status is DraftStatus.PENDING


def test_an_operator_approval_sends_once_however_often_it_is_repeated():
    # Given a draft by the draft token
    world, deps, ports = setting()
    store = FakeDraftStore()
    draft = written(store, "friend@outside.test")
    # When the operator approves it twice, the second time from a stale copy (a concurrent approval)
    first = approve(draft, OPERATOR, deps=deps, store=store, request_id="r1")
    second = approve(draft, OPERATOR, deps=deps, store=store, request_id="r2")
    third = approve(store.find(draft.draft_id), OPERATOR, deps=deps, store=store, request_id="r3")
    # Then one message is queued, under the draft's id; the others sent nothing and reserved nothing
    assert first.sent
    assert not first.already_sent
    assert second.already_sent
    assert third.already_sent
    assert ports.queued == [draft.message_id]
    assert [m.message_id for m in world.queued] == [draft.message_id]
    assert sum(world.counters.values()) == 5  # one recipient on five caps, once
    allow = [a for a in world.audit if a.outcome == "allow"]
    assert [(a.actor, a.details["draft_id"]) for a in allow] == [("operator:alice", draft.draft_id)]
    assert store.find(draft.draft_id).approved_by == "operator:alice"


def test_the_draft_tokens_own_secret_never_sends():
    world, deps, ports = setting()
    store = FakeDraftStore()
    draft = written(store, "friend@outside.test")
    secret = make_secret(ACCOUNT_ID, TOKEN_ID)
    world.tokens[TOKEN_ID] = replace(world.tokens[TOKEN_ID], secret_hash=hash_secret(secret))
    outcome = approve(
        draft, Approver(actor="token:x", token_secret=secret), deps=deps, store=store, request_id="r"
    )
    assert outcome.refusal is not None
    assert outcome.refusal.code == "scope_denied"
    assert ports.queued == []


def test_an_operator_approval_names_a_draft_token_and_nothing_else():
    # A draft that claims a send token (or any token without `draft`) is not approvable by an operator
    _world, deps, ports = setting(scopes=frozenset({Scope.SEND}))
    store = FakeDraftStore()
    outcome = approve(written(store, "friend@outside.test"), OPERATOR, deps=deps, store=store, request_id="r")
    assert outcome.refusal is not None
    assert outcome.refusal.code == "scope_denied"
    assert ports.queued == []


def test_a_refused_approval_keeps_the_draft_pending_with_the_reason():
    world, deps, ports = setting()
    world.suppressions[(GLOBAL_SCOPE, "gone@outside.test")] = SuppressionEntry(
        scope=GLOBAL_SCOPE,
        address="gone@outside.test",
        reason="hard bounce",
        source="feedback",
        created_at=T0,
    )
    store = FakeDraftStore()
    draft = written(store, "gone@outside.test")
    outcome = approve(draft, OPERATOR, deps=deps, store=store, request_id="r")
    kept = store.find(draft.draft_id)
    assert kept.status is DraftStatus.PENDING
    assert kept.refusal is not None
    assert (kept.refusal.code, kept.refusal.by) == ("recipient_suppressed", "operator:alice")
    assert "suppressed" in kept.refusal.message
    assert outcome.decision is not None
    assert outcome.decision.code == "recipient_suppressed"
    assert ports.queued == []
    assert world.counters == {}


def test_a_reply_only_approver_is_held_to_the_reply_only_rule():
    world, deps, _ports = setting()
    secret = make_secret(ACCOUNT_ID, "tok-000000000002")
    world.tokens["tok-000000000002"] = Token(
        token_id="tok-000000000002", account_id=ACCOUNT_ID, mailbox=MAILBOX,
        scopes=frozenset({Scope.SEND_REPLY}), secret_hash=hash_secret(secret),
    )  # fmt: skip
    store = FakeDraftStore()
    draft = written(store, "stranger@outside.test")
    outcome = approve(draft, Approver("token:2", token_secret=secret), deps=deps, store=store, request_id="r")
    assert outcome.refusal is not None
    assert outcome.refusal.code == "not_a_reply"


def test_the_preview_writes_nothing_at_all():
    world, deps, ports = setting()
    store = FakeDraftStore()
    allowed = verdict(written(store, "friend@outside.test"), deps=deps, request_id="r")
    world.suppressions[(GLOBAL_SCOPE, "gone@outside.test")] = SuppressionEntry(
        scope=GLOBAL_SCOPE,
        address="gone@outside.test",
        reason="hard bounce",
        source="feedback",
        created_at=T0,
    )
    refused = verdict(written(store, "gone@outside.test"), deps=deps, request_id="r")
    assert (allowed.would_send, allowed.code) == (True, "allowed")
    assert (refused.would_send, refused.code) == (False, "recipient_suppressed")
    assert world.counters == {}
    assert world.audit == []
    assert world.contacts == set()
    assert ports.queued == []


def test_an_outage_after_the_decision_keeps_the_draft_and_the_next_approval_sends_it():
    _world, deps, ports = setting()
    store = FakeDraftStore()
    draft = written(store, "friend@outside.test")
    ports.queue_down = True
    with pytest.raises(OutboundUnavailableError):
        approve(draft, OPERATOR, deps=deps, store=store, request_id="r1")
    kept = store.find(draft.draft_id)
    assert kept.status is DraftStatus.PENDING
    assert kept.refusal is not None
    assert kept.refusal.code == "outbound_unavailable"
    assert kept.message_id == f"{draft.message_id}-1"
    assert ports.refunded == [draft.message_id]
    ports.queue_down = False
    assert approve(kept, OPERATOR, deps=deps, store=store, request_id="r2").sent
    assert ports.queued == [f"{draft.message_id}-1"]


def test_a_sent_draft_no_longer_changes_and_a_huge_one_is_refused():
    _world, deps, _ports = setting()
    store = FakeDraftStore()
    draft = written(store, "friend@outside.test")
    approve(draft, OPERATOR, deps=deps, store=store, request_id="r")
    with pytest.raises(DraftNotPendingError):
        update_draft(store, store.find(draft.draft_id), Draft(from_address=MAILBOX, text="x"), now=T0)
    big = Draft(
        from_address=MAILBOX,
        to=("a@b.test",),
        text="x",
        attachments=(Attachment("a.bin", "a/b", b"0" * 400_000),),
    )
    with pytest.raises(DraftTooLargeError):
        create_draft(store, account_id=ACCOUNT_ID, mailbox=MAILBOX, token_id=TOKEN_ID, content=big, now=T0)


def test_an_approval_refused_after_another_sent_the_draft_reports_it_sent_and_keeps_no_refusal():
    # Given a draft sent by a first approval, and a second approval deciding from a stale copy
    world, deps, ports = setting()
    store = FakeDraftStore()
    stale = written(store, "friend@outside.test")
    assert approve(stale, OPERATOR, deps=deps, store=store, request_id="r1").sent
    world.suppressions[(GLOBAL_SCOPE, "friend@outside.test")] = SuppressionEntry(
        scope=GLOBAL_SCOPE,
        address="friend@outside.test",
        reason="complaint",
        source="feedback",
        created_at=T0,
    )
    # When its decision is refused (the recipient was suppressed meanwhile)
    late = approve(stale, OPERATOR, deps=deps, store=store, request_id="r2")
    # Then it answers that the draft was sent already, and the draft keeps no refusal
    assert late.already_sent
    assert late.sent
    assert store.find(stale.draft_id).refusal is None
    assert ports.queued == [stale.message_id]
