from datetime import UTC, datetime

import pytest

from litemx.addresses import normalize_address
from litemx.directory.tokens import hash_secret, make_secret, parse_secret, secret_matches
from litemx.quotas.models import day_window, month_window


@pytest.mark.parametrize(
    ("now", "day", "day_reset", "month", "month_reset"),
    [
        (datetime(2026, 11, 24, 23, 59, 59, tzinfo=UTC), "2026-11-24", "2026-11-25", "2026-11", "2026-12-01"),
        (datetime(2026, 12, 31, 12, tzinfo=UTC), "2026-12-31", "2027-01-01", "2026-12", "2027-01-01"),
        (datetime(2028, 2, 29, 0, 0, tzinfo=UTC), "2028-02-29", "2028-03-01", "2028-02", "2028-03-01"),
    ],
)
def test_windows_are_utc_calendar_days_and_months(now, day, day_reset, month, month_reset) -> None:
    assert day_window(now).label == day
    assert day_window(now).resets_at.date().isoformat() == day_reset
    assert month_window(now).label == month
    assert month_window(now).resets_at.date().isoformat() == month_reset


def test_windows_use_utc_even_for_local_times() -> None:
    from datetime import timedelta, timezone

    late_evening_new_york = datetime(2026, 11, 24, 20, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert day_window(late_evening_new_york).label == "2026-11-25"


def test_token_secret_round_trip_and_hash_only() -> None:
    secret = make_secret("acc-0123456789ab", "tok-0123456789ab")
    assert secret.startswith("lmx_acc-0123456789ab_tok-0123456789ab_")
    claims = parse_secret(secret)
    assert claims is not None
    assert (claims.account_id, claims.token_id) == ("acc-0123456789ab", "tok-0123456789ab")
    stored = hash_secret(secret)
    assert len(stored) == 64
    assert secret not in stored
    assert secret_matches(secret, stored)
    assert not secret_matches(secret + "x", stored)


@pytest.mark.parametrize(
    "secret", ["", "lmx_", "lmx_acc-1_tok-1_x", "abc_acc-0123456789ab_tok-0123456789ab_x"]
)
def test_malformed_secrets_are_not_parsed(secret: str) -> None:
    assert parse_secret(secret) is None


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Bob@Example.COM", "bob@example.com"),
        ("user@bücher.example", "user@xn--bcher-kva.example"),
        ("o'neil+tag@mail.example.org", "o'neil+tag@mail.example.org"),
        ("a..b@example.com", None),
        ("a@localhost", None),
        ("a@-bad.example", None),
        ("a@b.c\r\nBcc: x@y.z", None),
        ("two@@example.com", None),
    ],
)
def test_address_normalisation(raw: str, canonical: str | None) -> None:
    assert normalize_address(raw) == canonical


def test_the_account_day_is_a_field_of_its_month_item() -> None:
    from litemx.policy.store import counter_values
    from litemx.quotas.models import Cap, counter_item, counter_slots

    # Given the slots of a send on 24 November (a mailbox whose local part holds a '|', which RFC 5322 allows)
    slots = counter_slots(
        account_id="acc-1", mailbox="a|d24@x.test", now=datetime(2026, 11, 24, 23, 59, tzinfo=UTC)
    )
    keys = {s.cap: s.key for s in slots}
    # Then the account's day and month name one item, the mailbox's day an item of its own
    assert counter_item(keys[Cap.ACCOUNT_DAY]) == ("account#acc-1#month#2026-11", "d24")
    assert counter_item(keys[Cap.ACCOUNT_MONTH]) == ("account#acc-1#month#2026-11", "used")
    assert counter_item(keys[Cap.MAILBOX_DAY]) == ("mailbox#a|d24@x.test#day#2026-11-24", "used")
    # And a stored month item answers for its month and each of its days
    raw = {
        "key": {"S": "account#acc-1#month#2026-11"},
        "used": {"N": "7"},
        "d23": {"N": "4"},
        "d24": {"N": "3"},
        "expires_at": {"N": "1"},
    }
    assert dict(counter_values(raw)) == {
        "account#acc-1#month#2026-11": 7,
        "account#acc-1#month#2026-11|d23": 4,
        "account#acc-1#month#2026-11|d24": 3,
    }
