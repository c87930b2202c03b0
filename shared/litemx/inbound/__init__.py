"""Received mail: routing to mailboxes, the per-mailbox index, correspondents and the read API."""
