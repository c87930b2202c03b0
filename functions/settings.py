"""Typed Lambda configuration, parsed once at each handler's edge from the function's environment.

The CDK constructs set these variables from their resources' attributes; a missing one fails loudly here
instead of falling back to a silent default. What every handler reads is here; the api's and the sender's
outbound settings are in functions.outbound_settings, and each other handler's in its own package, so a
handler loads only the settings models it parses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields
from datetime import timedelta

from litemx.storage.tables import TableNames


def table_names(environ: Mapping[str, str] | None = None) -> TableNames:
    """TABLE_<ROLE> for every table of the model; KeyError names the missing variable."""
    env = os.environ if environ is None else environ
    missing = [f"TABLE_{f.name.upper()}" for f in fields(TableNames) if f"TABLE_{f.name.upper()}" not in env]
    if missing:
        raise KeyError(f"missing environment: {', '.join(missing)}")
    return TableNames(**{f.name: env[f"TABLE_{f.name.upper()}"] for f in fields(TableNames)})


def audit_retention(environ: Mapping[str, str] | None = None) -> timedelta:
    """AUDIT_RETENTION_DAYS (cdk.json `auditRetentionDays`, which the stack always sets): how long every
    audit entry a function writes is kept."""
    # Here, not at import: a handler that writes no audit (inbound) does not load the audit store.
    from litemx.audit.store import DEFAULT_AUDIT_RETENTION

    env = os.environ if environ is None else environ
    days = int(env.get("AUDIT_RETENTION_DAYS", DEFAULT_AUDIT_RETENTION.days))
    if days <= 0:
        raise ValueError(f"AUDIT_RETENTION_DAYS must be a positive number of days, not {days}")
    return timedelta(days=days)
