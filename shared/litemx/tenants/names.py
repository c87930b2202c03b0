"""How a tenant is named: the tenant of account `acc-…` is `litemx-acc-…`, derived, never stored.

Apart from the tenant types (litemx.tenants.models) because the feedback function reads an event's
tenant back to its account without loading them.
"""

from __future__ import annotations

import re

TENANT_PREFIX = "litemx-"
_TENANT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def tenant_name(account_id: str) -> str:
    name = f"{TENANT_PREFIX}{account_id}"
    if not _TENANT_NAME.match(name):
        raise ValueError(f"account id {account_id!r} does not make a valid SES tenant name")
    return name


def account_of_tenant(name: str | None) -> str | None:
    if not name or not name.startswith(TENANT_PREFIX):
        return None
    return name[len(TENANT_PREFIX) :] or None
