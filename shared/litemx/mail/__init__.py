"""MIME: composing outbound messages with the stdlib email package."""
