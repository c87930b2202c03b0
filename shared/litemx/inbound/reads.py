"""The read API's contract apart from its logic: the largest page, and the refusals of a read.

Their own module (litemx.inbound.models and .logic re-export them): the api registers the refusals' answers
and the page limit's validation when it loads, and loading the inbound models and logic for that alone
would cost every cold start of the api, most of which send and never read a mailbox.
"""

from __future__ import annotations

from litemx.errors import LiteMXError, NotFoundError

MAX_PAGE = 100


class MailboxMismatchError(LiteMXError):
    """The token may read only its own mailbox (HTTP 403)."""

    code = "token_mailbox_mismatch"


class MessageNotFoundError(NotFoundError):
    code = "message_not_found"


class RawMailMissingError(NotFoundError):
    """The index names a raw message the bucket no longer holds."""

    code = "raw_mail_missing"


class InvalidCursorError(LiteMXError):
    code = "invalid_cursor"
