"""Property tests of the API's parsers: `compose`, the request models and the guard's JSON shape check.

Invariant: every input becomes a value or a typed refusal; nothing else is raised.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from functions.api.guard import json_shape_refusal
from functions.api.models import SendMessageIn
from litemx.addresses import normalize_address, recipient_set
from litemx.mail.compose import Attachment, ComposeError, Draft, compose

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
# Any text, including surrogates, controls, line and paragraph separators.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
HOSTILE = st.sampled_from(
    ["\r", "\n", "\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x00", "\x7f", "\ud800", "\t"]
)
ADDRESSY = st.one_of(
    st.emails(),
    st.builds(lambda a, b: f"{a}@{b}", ANY_TEXT, ANY_TEXT),
    st.builds(lambda e, h: e + h, st.emails(), HOSTILE),
    st.builds(lambda e: e.upper(), st.emails()),
)
HEADER_NAMES = st.one_of(st.sampled_from(["X-Ticket", "Bcc", "X-SES-TAG", "Auto-Submitted", "To"]), ANY_TEXT)


@st.composite
def drafts(draw: st.DrawFn) -> Draft:
    return Draft(
        from_address=draw(ADDRESSY),
        to=tuple(draw(st.lists(ADDRESSY, max_size=4))),
        cc=tuple(draw(st.lists(ADDRESSY, max_size=3))),
        bcc=tuple(draw(st.lists(ADDRESSY, max_size=3))),
        reply_to=tuple(draw(st.lists(ADDRESSY, max_size=2))),
        subject=draw(ANY_TEXT),
        text=draw(st.one_of(st.none(), ANY_TEXT)),
        html=draw(st.one_of(st.none(), ANY_TEXT)),
        in_reply_to=draw(st.one_of(st.none(), ANY_TEXT)),
        references=tuple(draw(st.lists(ANY_TEXT, max_size=3))),
        attachments=tuple(
            Attachment(
                draw(ANY_TEXT), draw(st.one_of(st.just("text/plain"), ANY_TEXT)), draw(st.binary(max_size=64))
            )
            for _ in range(draw(st.integers(0, 2)))
        ),
        headers=draw(st.dictionaries(HEADER_NAMES, ANY_TEXT, max_size=3)),
    )


@given(drafts())
def test_compose_returns_a_message_or_a_compose_error(draft: Draft) -> None:
    refusal: ComposeError | None = None
    try:
        composed = compose(draft, now=NOW)
    except ComposeError as refused:
        refusal = refused
    if refusal is not None:
        assert refusal.code
        assert refusal.message
        return
    # Then the message parses back, with one destination per distinct recipient and no Bcc header
    parsed = email.message_from_bytes(composed.raw, policy=email.policy.SMTP)
    assert parsed["Bcc"] is None
    expected = recipient_set(draft.to, draft.cc, draft.bcc)
    assert composed.envelope_recipients == expected.all
    assert len(set(composed.envelope_recipients)) == len(composed.envelope_recipients)
    for line in composed.raw.split(b"\r\n"):
        assert b"\r" not in line
        assert b"\n" not in line


@given(st.lists(st.emails(), min_size=1, max_size=5), st.data())
def test_case_variants_collapse_into_one_recipient_set(people: list[str], data: st.DataObject) -> None:
    variants = [data.draw(st.sampled_from([p, p.upper(), p.lower(), p.swapcase()])) for p in people * 3]
    found = recipient_set(tuple(variants[: len(people)]), tuple(variants[len(people) :]), tuple(people))
    canonical = {normalize_address(p) for p in people}
    assert set(found.all) == canonical
    assert len(found.all) == len(canonical)


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), ANY_TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(ANY_TEXT, inner, max_size=4)),
    max_leaves=20,
)
SEND_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "from": ADDRESSY,
        "to": st.lists(ADDRESSY, max_size=3),
        "cc": JSON_VALUES,
        "subject": ANY_TEXT,
        "text": ANY_TEXT,
        "headers": st.dictionaries(HEADER_NAMES, ANY_TEXT, max_size=2),
        "references": st.lists(ANY_TEXT, max_size=2),
        "attachments": st.lists(
            st.fixed_dictionaries(
                {
                    "filename": ANY_TEXT,
                    "content": st.one_of(ANY_TEXT, st.binary().map(lambda b: base64.b64encode(b).decode())),
                }
            ),
            max_size=2,
        ),
        "unknown": JSON_VALUES,
    },
)


@given(st.one_of(SEND_FIELDS, JSON_VALUES))
def test_the_send_model_returns_a_draft_or_a_validation_error(body: Any) -> None:
    try:
        model = SendMessageIn.model_validate(body)
    except ValidationError as refused:
        errors = refused.errors()
    else:
        errors = []
    if errors:
        return
    with contextlib.suppress(ComposeError):
        compose(model.draft(), now=NOW)


@given(
    st.one_of(ANY_TEXT, JSON_VALUES.map(json.dumps), st.integers(0, 2000).map(lambda n: "[" * n + "]" * n))
)
def test_the_json_shape_check_never_raises(body: str) -> None:
    refusal = json_shape_refusal(body)
    if refusal is None:
        with contextlib.suppress(ValueError):  # not JSON at all: the validator answers it
            json.loads(body)
    else:
        assert refusal.status == 400
