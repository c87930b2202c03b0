"""Outbound messages and their delivery state machine."""
