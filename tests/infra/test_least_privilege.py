"""#12 item 11: each function's role allows exactly the DynamoDB actions its code performs, per table.

The table below is the contract, written out here independently of infra/constructs/access.py: what
`make ddb-actions` recorded from the handlers under the integration tests, plus the code paths those
tests do not reach (noted in access.py). With LITEMX_DDB_ACTIONS pointing at a fresh recording, the last
test also checks that the recording needs nothing beyond it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from infra.constructs.function import table_env_var
from tests.infra.helpers import actions_on, function_statements, litemx_functions

GET, BATCH_GET, QUERY = "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"
PUT, UPDATE, DELETE = "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
CONDITION_CHECK = "dynamodb:ConditionCheckItem"

EXPECTED: dict[str, dict[str, set[str]]] = {
    "api": {
        "directory": {BATCH_GET, GET, UPDATE, PUT, QUERY, DELETE},  # + drafts: create, list, discard
        "suppression": {BATCH_GET},
        "usage": {BATCH_GET, UPDATE, CONDITION_CHECK},  # the fan-out check in the decision's transaction
        "audit": {PUT},
        "messages": {GET, PUT},
        "inbound": {BATCH_GET, QUERY},
        "idempotency": {GET, PUT, UPDATE, DELETE},
    },
    "sender": {
        "messages": {BATCH_GET, GET, UPDATE},
        "directory": {BATCH_GET, DELETE},  # refund of a cancelled message: its contact marks
        "suppression": {BATCH_GET},
        "usage": {UPDATE},
        "audit": {PUT},
        "reputation": {UPDATE},  # what it sent, counted into the hourly buckets
    },
    "inbound": {"inbound": {PUT}, "directory": {GET, UPDATE, PUT}},  # PutItem: reply rights
    "feedback": {
        "suppression": {PUT},
        "messages": {GET, QUERY, UPDATE},  # find the message (tag, or by_provider_message_id), move it
        "directory": {GET, UPDATE},
        "feedback": {PUT, UPDATE},
        "reputation": {QUERY, UPDATE},  # a window is one Query per mailbox and account
        "audit": {PUT},
    },
    # one batched read (subscription + delivery), a slot leased and given back, the delivery's outcome
    "webhooks": {"webhooks": {BATCH_GET, PUT, UPDATE}},
}
NEVER = {"dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:DescribeTable"}


@pytest.mark.parametrize("which", ["default", "variant"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_function_may_do_exactly_what_its_code_does_on_each_table(request, which, name):
    synth = request.getfixturevalue(which)
    function = litemx_functions(synth)[name]
    env = function["Properties"]["Environment"]["Variables"]
    statements = function_statements(synth, function)
    for role in synth.stack.data.tables:
        table_id = env[table_env_var(role)]["Ref"]
        granted = {a for a in actions_on(statements, table_id) if a.startswith("dynamodb:")}
        assert granted == EXPECTED[name].get(role, set()), (name, role)
        assert not granted & NEVER


@pytest.mark.skipif(not os.environ.get("LITEMX_DDB_ACTIONS"), reason="run by `make ddb-actions`")
def test_a_fresh_recording_needs_nothing_beyond_the_contract():
    recorded = json.loads(Path(os.environ["LITEMX_DDB_ACTIONS"]).read_text(encoding="utf-8"))
    for name, tables in recorded.items():
        for role, actions in tables.items():
            assert set(actions) <= EXPECTED[name].get(role, set()), (name, role, actions)
