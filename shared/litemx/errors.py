"""Domain errors, raised by stores after translating DynamoDB failures, mapped to answers at the edge."""

from __future__ import annotations


class LiteMXError(Exception):
    """Base of every domain error; `code` is stable and machine-readable."""

    code = "error"


class NotFoundError(LiteMXError):
    code = "not_found"


class AlreadyExistsError(LiteMXError):
    code = "already_exists"


class InvalidInputError(LiteMXError):
    code = "invalid_input"


class StoreBusyError(LiteMXError):
    """Contention outlasted the retries: nothing was written, the caller may retry."""

    code = "busy"
