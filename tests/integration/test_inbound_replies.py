"""Reply-only tokens and first contacts against the local AWS: correspondents and Message-IDs learned by
the real inbound handler, decisions by the real policy store on DynamoDB Local."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from litemx.directory.models import Scope
from litemx.policy.store import AccountPolicyStore
from litemx.quotas.store import QuotaStore
from litemx.storage.tables import TableNames
from litemx_local.world import PLAN_FIRST_CONTACTS, build_world
from tests.events import mime
from tests.events.mailroom import Mailroom, mailroom
from tests.integration.conftest import recipients

pytestmark = pytest.mark.integration
BOX = "box0@example.com"


@pytest.fixture
def room(tables: TableNames, monkeypatch) -> Iterator[Mailroom]:
    with mailroom(tables, monkeypatch) as room:
        yield room


def counter(key: str) -> int:
    return QuotaStore().read([key]).get(key, 0)  # the account's day is a field of its month's item


def test_a_reply_only_token_answers_received_mail_and_nothing_else(tables, room):
    # Given a reply-only token, and Alice's message received by the real inbound handler
    world = build_world(tables, scopes=frozenset({Scope.SEND_REPLY}), first_contacts_day=PLAN_FIRST_CONTACTS)
    room.receive(mime("multipart-alternative"), [BOX])  # From alice@sender.test, <lunch-1@sender.test>
    # Then it may write to Alice (a correspondent now)
    assert world.send(["Alice@Sender.test"]).allowed
    # And it may answer her message, copying someone new (a first contact)
    answer = world.send(["alice@sender.test", "carol@elsewhere.test"], in_reply_to="<lunch-1@sender.test>")
    assert answer.allowed, answer.message
    assert answer.first_contacts == ("carol@elsewhere.test",)
    # But writing to a stranger without answering anything received is refused
    cold = world.send(["stranger@outside.test"], in_reply_to="<made-up@outside.test>")
    assert cold.code == "not_a_reply"


def test_a_spammers_message_makes_no_correspondent_for_a_reply_only_token(tables, room):
    world = build_world(tables, scopes=frozenset({Scope.SEND_REPLY}))
    room.receive(mime("latin1"), [BOX], spam="FAIL")  # From andre@sender.test
    assert world.send(["andre@sender.test"]).code == "not_a_reply"


def test_the_free_plan_makes_exactly_ten_first_contacts_a_day(tables):
    # Given a Free mailbox with the plan's first-contact cap
    world = build_world(tables, first_contacts_day=PLAN_FIRST_CONTACTS)
    key = f"mailbox#{BOX}#first_contact#day#{world.clock.now():%Y-%m-%d}"
    # When it writes to 4 + 6 new people, then to 1 more
    assert world.send(recipients(4)).allowed
    assert world.send(recipients(6, start=4)).allowed
    refused = world.send(recipients(1, start=10))
    # Then the 11th is refused, and the counters hold exactly what was accepted
    assert refused.code == "first_contact_limit"
    assert counter(key) == 10
    assert counter(f"mailbox#{BOX}#day#{world.clock.now():%Y-%m-%d}") == 10
    # And writing again to people already written to is not a first contact
    again = world.send(recipients(3))
    assert again.allowed, again.message
    assert again.first_contacts == ()
    assert counter(key) == 10
    assert counter(f"mailbox#{BOX}#day#{world.clock.now():%Y-%m-%d}") == 13


def test_a_request_over_the_first_contact_cap_moves_no_counter(tables):
    world = build_world(tables, first_contacts_day=PLAN_FIRST_CONTACTS)
    assert world.send(recipients(8)).allowed
    assert world.send(recipients(3, start=8)).code == "first_contact_limit"
    assert counter(f"mailbox#{BOX}#first_contact#day#{world.clock.now():%Y-%m-%d}") == 8
    assert (
        counter(f"account#{world.account.account_id}#month#{world.clock.now():%Y-%m}|d{world.clock.now():%d}")
        == 8
    )
    # And the refused recipients were not marked as contacted
    assert world.send(recipients(2, start=8)).first_contacts == (
        "person8@outside.test",
        "person9@outside.test",
    )


def test_an_operator_override_is_seen_by_the_next_decision(tables):
    world = build_world(tables, first_contacts_day=PLAN_FIRST_CONTACTS)
    assert world.send(recipients(10)).allowed
    assert world.send(recipients(1, start=10)).code == "first_contact_limit"
    AccountPolicyStore().set_first_contacts(world.account.account_id, 11, now=world.clock.now())
    assert world.send(recipients(1, start=10)).allowed
