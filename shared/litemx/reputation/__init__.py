"""Sending reputation per mailbox and account over a rolling 24 h, and automatic disablement."""
