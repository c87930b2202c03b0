"""The SES message tags the sender sets on every message: how SES's feedback (and a tenant's events) find
their way back to the account, mailbox and message that sent it. One place, because the sender writes
them and the feedback and tenant code read them."""

from __future__ import annotations

TAG_ACCOUNT = "litemx-account"
TAG_MAILBOX = "litemx-mailbox"
TAG_MESSAGE = "litemx-message"
