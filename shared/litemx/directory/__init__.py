"""Accounts, domains, mailboxes, tokens and correspondents."""
