"""Building a reply from a received message (litemx.mail.reply): pure, total, hostile originals."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from litemx.addresses import has_line_break, normalize_address
from litemx.inbound import mime
from litemx.inbound.replies import original_from
from litemx.mail.compose import ComposeError, compose
from litemx.mail.headers import has_lone_surrogate
from litemx.mail.reply import (
    MAX_REFERENCES,
    MAX_SUBJECT,
    Original,
    ReplyRequest,
    quoted,
    reply_draft,
    reply_recipients,
    reply_subject,
    reply_threading,
)

BOX = "box0@example.com"
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=60)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Lunch?", "Re: Lunch?"),
        ("Re: Lunch?", "Re: Lunch?"),
        ("RE: re: Re:Lunch?", "Re: Lunch?"),
        ("Aw: AW: Re[2]: Re(3): Lunch?", "Re: Lunch?"),
        ("SV: Antw: Odp: VS: Lunch?", "Re: Lunch?"),
        ("Fwd: Lunch?", "Re: Fwd: Lunch?"),
        ("Re: Fwd: Re: Lunch?", "Re: Fwd: Re: Lunch?"),
        ("", "Re:"),
        ("Re:", "Re:"),
        ("Folded\r\n subject\twith tabs", "Re: Folded subject with tabs"),
        ("Area: 51", "Re: Area: 51"),
    ],
)
def test_the_subject_takes_one_re_prefix(subject, expected):
    assert reply_subject(subject) == expected


def original(**fields) -> Original:
    return Original(mailbox=BOX, **fields)


def test_to_is_reply_to_else_from_and_reply_all_adds_to_and_cc_without_the_mailbox():
    message = original(
        from_address="sam@far.test",
        reply_to=("Team@Far.test", "sam@far.test"),
        to=(BOX, "dana@elsewhere.test", "BOX0+tag@example.com"),
        cc=("eve@third.test", "team@far.test", "not an address"),
    )
    assert reply_recipients(message, reply_all=False) == (("team@far.test", "sam@far.test"), ())
    to, cc = reply_recipients(message, reply_all=True)
    assert to == ("team@far.test", "sam@far.test")
    assert cc == ("dana@elsewhere.test", "eve@third.test")
    assert reply_recipients(message, reply_all=True, exclude=["EVE@third.test"])[1] == (
        "dana@elsewhere.test",
    )
    assert reply_recipients(original(from_address="sam@far.test"), reply_all=False) == (("sam@far.test",), ())


def test_a_message_without_from_gets_no_recipient_and_the_decision_refuses_it():
    assert reply_recipients(original(to=(BOX,)), reply_all=True) == ((), ())


def test_the_mailbox_answering_its_own_message_writes_to_the_original_recipients():
    message = original(from_address=BOX, to=("dana@elsewhere.test", BOX), cc=("eve@third.test",))
    assert reply_recipients(message, reply_all=True) == (("dana@elsewhere.test",), ("eve@third.test",))


def test_threading_keeps_the_root_and_the_most_recent_references():
    ids = tuple(f"id{n}@far.test" for n in range(500))
    in_reply_to, references = reply_threading(original(message_id="own@far.test", references=ids))
    assert in_reply_to == "<own@far.test>"
    assert len(references) == MAX_REFERENCES
    assert references[0] == "<id0@far.test>"
    assert references[-2:] == ("<id499@far.test>", "<own@far.test>")


def test_threading_without_a_message_id_or_references():
    assert reply_threading(original()) == (None, ())
    assert reply_threading(original(in_reply_to="<up@far.test>")) == (None, ("<up@far.test>",))
    assert reply_threading(original(message_id="has space@x", references=("<a@b>",))) == (None, ("<a@b>",))


def test_the_quote_is_attributed_and_marked():
    text = quoted(original(from_header="Sam <sam@far.test>", received_at=NOW, text="one\r\ntwo"))
    assert text == "On Tue, 24 Nov 2026 10:00 UTC, Sam <sam@far.test> wrote:\n> one\n> two"


def test_a_quoted_html_reply_quotes_in_both_parts_escaped():
    draft = reply_draft(
        original(from_address="sam@far.test", text="<b>hi</b>"),
        ReplyRequest(text="Yes.", html="<p>Yes.</p>", quote=True),
    )
    assert (draft.text or "").endswith("> <b>hi</b>")
    assert "&lt;b&gt;hi&lt;/b&gt;" in (draft.html or "")


# ---- properties: whatever the original holds ----

ADDRESSES = st.lists(
    st.one_of(
        ANY_TEXT,
        st.emails(),
        st.sampled_from([BOX, "BOX0@Example.com", "box0+x@example.com", "a@b.test", ""]),
    ),
    max_size=8,
)


@given(ANY_TEXT)
def test_any_subject_becomes_one_safe_line_with_a_single_re(subject):
    answer = reply_subject(subject)
    assert answer.startswith("Re:")
    assert not has_line_break(answer)
    assert len(answer) <= MAX_SUBJECT + 4
    assert reply_subject(answer) == answer  # replying to the reply does not stack prefixes
    assert not re.match(r"^Re: (re|aw|sv)\s*:", answer, re.IGNORECASE)


@given(ADDRESSES, ADDRESSES, ADDRESSES, ANY_TEXT, st.booleans())
def test_recipients_are_participants_never_the_mailbox_never_twice(reply_to, to, cc, sender, reply_all):
    message = original(from_address=sender, reply_to=tuple(reply_to), to=tuple(to), cc=tuple(cc))
    got_to, got_cc = reply_recipients(message, reply_all=reply_all)
    everyone = [*got_to, *got_cc]
    assert len(everyone) == len(set(everyone))
    participants = {normalize_address(a) for a in (sender, *reply_to, *to, *cc) if not has_lone_surrogate(a)}
    for address in everyone:
        assert normalize_address(address) == address
        assert address in participants
        assert address.partition("+")[0].split("@")[0] != "box0" or not address.endswith("@example.com")
    if not reply_all:
        assert got_cc == ()


@given(st.lists(ANY_TEXT, max_size=300), ANY_TEXT, ANY_TEXT)
def test_threading_headers_are_always_safe(references, own, in_reply_to):
    got_in_reply_to, got_references = reply_threading(
        original(message_id=own, references=tuple(references), in_reply_to=in_reply_to)
    )
    assert len(got_references) <= MAX_REFERENCES
    for value in (*got_references, got_in_reply_to or "<x>"):
        assert re.fullmatch(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,250}>", value)
    if got_in_reply_to is not None:
        assert got_references[-1] == got_in_reply_to


HEADER_LINES = st.lists(
    st.tuples(
        st.sampled_from(
            ["From", "Reply-To", "To", "Cc", "Subject", "Message-ID", "References", "In-Reply-To"]
        ),
        st.one_of(
            st.text(st.characters(min_codepoint=1, max_codepoint=0x2FFF), max_size=80),
            st.sampled_from(
                [
                    "=?utf-8?q?Re=3A_caf=C3=A9?=",
                    "=?utf-8?b?invalid?=",
                    "a@b.test,\r\n c@d.test",
                    "<x@y>\r\n <z@w>",
                    " ".join(f"<r{n}@far.test>" for n in range(600)),
                    ", ".join(f"p{n}@far.test" for n in range(200)),
                    "Box <box0@example.com>",
                    "",
                ]
            ),
        ),
    ),
    max_size=10,
)


@settings(max_examples=60, deadline=None)
@given(HEADER_LINES, st.booleans(), st.booleans())
def test_any_received_header_block_replies_or_is_refused_with_a_code(lines, reply_all, quote):
    # Given an original parsed by the real inbound parser from hostile header bytes
    raw = "".join(f"{name}: {value}\r\n" for name, value in lines).encode("utf-8", "surrogateescape")
    headers = mime.read_headers(raw + b"\r\nbody\r\n", whole=True)
    message = original_from(BOX, headers, received_at=NOW, text="quoted")
    # When a reply is built and composed
    draft = reply_draft(message, ReplyRequest(text="ok", reply_all=reply_all, quote=quote))
    # Then it is a message, or a typed refusal (no recipient left): nothing else is raised
    if not draft.to and not draft.cc:
        with pytest.raises(ComposeError, match="Name at least one recipient"):
            compose(draft, now=NOW)
        return
    assert BOX not in compose(draft, now=NOW).envelope_recipients


def test_an_own_id_already_in_the_references_moves_to_their_end() -> None:
    # Found by the property above: an original whose References already named its own id (a loop) kept
    # it where it was, so References did not end with In-Reply-To.
    got_in_reply_to, got_references = reply_threading(original(message_id="0", references=("0", "00")))
    assert got_in_reply_to == "<0>"
    assert got_references == ("<00>", "<0>")
