"""Signed webhooks for new mail (Standard Webhooks): subscriptions, events, delivery with backoff."""
