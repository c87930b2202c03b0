"""Every function's synthesized environment satisfies the settings model its handler parses at start.

A variable the handler requires but the stack does not set would only fail on the first invocation
after deploy; here it fails the build.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from functions.api.mailbox_routes import MailboxSettings
from functions.feedback.settings import feedback_settings
from functions.inbound.settings import inbound_settings
from functions.outbound_settings import outbound_settings
from functions.settings import table_names
from functions.webhooks.settings import webhook_settings
from tests.infra.helpers import litemx_functions

PARSERS: dict[str, list[Callable[[dict[str, str]], Any]]] = {
    "api": [table_names, outbound_settings, lambda env: MailboxSettings.model_validate(env)],
    "sender": [table_names, outbound_settings],
    "feedback": [table_names, feedback_settings],
    "inbound": [table_names, inbound_settings],
    "webhooks": [table_names, webhook_settings],
}


def _environment(resource: dict[str, Any]) -> dict[str, str]:
    """Deploy-time values (Ref, GetAtt ...) stand in as placeholder strings."""
    variables = resource["Properties"].get("Environment", {}).get("Variables", {})
    return {name: v if isinstance(v, str) else "resolved-at-deploy" for name, v in variables.items()}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_each_function_environment_parses_with_its_handler_settings(default, name: str) -> None:
    environment = _environment(litemx_functions(default)[name])
    for parse in PARSERS[name]:
        parse(environment)  # raises (KeyError or ValidationError) naming what is missing
