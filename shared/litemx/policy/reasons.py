"""Stable reason codes of policy refusals; docs/policy.md documents each one.

Clients and agents match on `code`; the HTTP status family tells them whether retrying can help.
"""

from __future__ import annotations

from enum import Enum


class Reason(Enum):
    """Each member: (stable code, HTTP status, what it means)."""

    TOKEN_INVALID = ("token_invalid", 401, "The token is missing, malformed or unknown.")
    TOKEN_REVOKED = ("token_revoked", 401, "The token was revoked and can never be used again.")
    TOKEN_EXPIRED = ("token_expired", 401, "The token is past its expiry.")
    TOKEN_DISABLED = ("token_disabled", 403, "An operator disabled the token.")
    SCOPE_DENIED = ("scope_denied", 403, "The token has no send scope (`send` or `send:reply`).")
    TOKEN_MAILBOX_MISMATCH = (
        "token_mailbox_mismatch",
        403,
        "The token may only send from its own mailbox, and From names another.",
    )
    ACCOUNT_DISABLED = ("account_disabled", 403, "The account is disabled or missing.")
    DOMAIN_NOT_OWNED = ("domain_not_owned", 403, "The From domain is not registered to this account.")
    DOMAIN_NOT_VERIFIED = ("domain_not_verified", 403, "The From domain has not passed verification.")
    DOMAIN_DISABLED = ("domain_disabled", 403, "An operator disabled the From domain.")
    MAILBOX_NOT_FOUND = ("mailbox_not_found", 403, "The From address is not a mailbox of this account.")
    MAILBOX_DISABLED = ("mailbox_disabled", 403, "The From mailbox is disabled.")
    FROM_INVALID = ("from_invalid", 400, "The From address is not a valid mail address.")
    RECIPIENTS_MISSING = ("recipients_missing", 400, "The message names no recipient.")
    TOO_MANY_RECIPIENTS = (
        "too_many_recipients",
        422,
        "The message has more recipients (to+cc+bcc) than the plan allows per message.",
    )
    RECIPIENT_INVALID = ("recipient_invalid", 400, "A recipient is not a valid mail address.")
    HEADER_INJECTION = (
        "header_injection",
        400,
        "A header, address or subject contains a line break (CR, LF, VT, FF, NEL, U+2028/9) or a "
        "control character.",
    )
    HEADER_NOT_ALLOWED = (
        "header_not_allowed",
        400,
        "An extra header is not on the allow-list (X-* tokens, Auto-Submitted, Thread-Topic, Thread-Index); "
        "addresses, the subject and threading travel only in their own fields.",
    )
    BULK_HEADERS = (
        "bulk_headers",
        422,
        "The message carries bulk-mail headers (any List-* or X-List-* header, Feedback-ID, X-Campaign*, "
        "Precedence: bulk/list/junk), judged on decoded, unfolded values.",
    )
    HEADER_RESERVED = (
        "header_reserved",
        422,
        "The message sets a header only LiteMX may set (X-SES-*: it would steer the provider's "
        "configuration set or tags).",
    )
    BULK_CONTENT = (
        "bulk_content",
        422,
        "The same content has already gone to the plan's number of first contacts from this account over "
        "the last two UTC days: a campaign.",
    )
    RECIPIENT_SUPPRESSED = (
        "recipient_suppressed",
        422,
        "A recipient is on the suppression list after a bounce or complaint.",
    )
    NOT_A_REPLY = (
        "not_a_reply",
        403,
        "A `send:reply` token may only write to people who have written to this mailbox.",
    )
    FIRST_CONTACT_LIMIT = (
        "first_contact_limit",
        429,
        "The mailbox has written to as many new people (neither correspondents nor mailed before) today "
        "as its plan allows.",
    )
    QUOTA_MAILBOX_DAY = ("quota_exceeded.mailbox_day", 429, "The mailbox's daily recipient cap is reached.")
    QUOTA_ACCOUNT_DAY = ("quota_exceeded.account_day", 429, "The account's daily recipient cap is reached.")
    QUOTA_ACCOUNT_MONTH = (
        "quota_exceeded.account_month",
        429,
        "The account's monthly recipient cap is reached.",
    )

    PROVIDER_SANDBOX = (
        "outbound_blocked.provider_sandbox",
        422,
        "The outbound provider is still in its sandbox: only verified recipients can be reached until "
        "production access is granted.",
    )

    def __init__(self, code: str, http_status: int, meaning: str) -> None:
        self.code = code
        self.http_status = http_status
        self.meaning = meaning

    @classmethod
    def from_code(cls, code: str) -> Reason:
        for reason in cls:
            if reason.code == code:
                return reason
        raise KeyError(code)
