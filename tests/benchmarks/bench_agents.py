"""Drafts' DynamoDB figures (docs/agents.md) against the local system, through the real api handler:
requests per draft written, per draft listed with its dry-run verdict (writes must be zero), per approval
and per repeated approval. Counted at botocore (every request the handler's thread sends, retries
included). Run with `make bench`; prints figures, asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.client

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from litemx.directory import admin  # noqa: E402
from litemx.directory.models import Scope  # noqa: E402
from litemx_local.aws import free_port  # noqa: E402
from litemx_local.system import LocalSystem  # noqa: E402
from litemx_local.world import build_world  # noqa: E402
from tests.apigw import FakeLambdaContext, http_event  # noqa: E402

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
_calls: Counter[str] = Counter()
_main = threading.get_ident()
_original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009


def _counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
    if self.meta.service_model.service_name == "dynamodb" and threading.get_ident() == _main:
        _calls[operation] += 1
    return _original(self, operation, params)


def measured(call: Callable[[], Any]) -> tuple[Any, Counter[str]]:
    _calls.clear()
    answer = call()
    return answer, Counter(_calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--drafts", type=int, default=20)
    args = parser.parse_args()
    setattr(botocore.client.BaseClient, "_make_api_call", _counting)  # noqa: B010
    system = LocalSystem(api_port=0, smtp_port=free_port())
    system.start()
    try:
        from functions.api import handler

        assert system.resources is not None
        world = build_world(system.resources.tables)
        boto3.client("ses").verify_domain_identity(Domain="example.com")
        box = world.mailboxes[0]
        drafter = admin.issue_token(
            world.directory,
            world.audit,
            world.clock,
            mailbox=box,
            scopes=frozenset({Scope.DRAFT}),
            actor="bench",
        ).secret

        def api(method: str, path: str, token: str, body: Any = None) -> dict[str, Any]:
            answer = handler.handler(http_event(method, path, body=body, token=token), FakeLambdaContext())
            return {"status": answer["statusCode"], "body": json.loads(answer["body"] or "null")}

        created: list[Counter[str]] = []
        ids = []
        for n in range(args.drafts):
            body = {"to": [f"person{n}@outside.test"], "subject": "Hello", "text": f"Draft number {n}."}
            answer, calls = measured(lambda: api("POST", "/v1/drafts", drafter, body))  # noqa: B023
            assert answer["status"] == 201, answer
            created.append(calls)
            ids.append(answer["body"]["id"])
        listed, list_calls = measured(lambda: api("GET", "/v1/drafts", drafter))
        verdicts = Counter(d["verdict"]["summary"] for d in listed["body"]["drafts"])
        sent, send_calls = measured(
            lambda: api("POST", f"/v1/drafts/{ids[0]}/send", world.secrets[box.address])
        )
        again, again_calls = measured(
            lambda: api("POST", f"/v1/drafts/{ids[0]}/send", world.secrets[box.address])
        )
        per_create = sum(sum(c.values()) for c in created) / len(created)
        figures = {
            "drafts": args.drafts,
            "create_requests_per_draft": per_create,
            "create_writes_per_draft": sum(sum(v for k, v in c.items() if k in WRITES) for c in created)
            / len(created),
            "list_requests": sum(list_calls.values()),
            "list_requests_per_draft": round(sum(list_calls.values()) / args.drafts, 2),
            "list_writes": sum(v for k, v in list_calls.items() if k in WRITES),
            "list_by_operation": dict(list_calls),
            "list_verdicts": dict(verdicts),
            "approval_status": sent["status"],
            "approval_requests": dict(send_calls),
            "repeated_approval_status": again["status"],
            "repeated_approval_requests": dict(again_calls),
        }
        print("agents figures:", json.dumps(figures, indent=2))
    finally:
        system.stop()
        setattr(botocore.client.BaseClient, "_make_api_call", _original)  # noqa: B010


if __name__ == "__main__":
    main()
