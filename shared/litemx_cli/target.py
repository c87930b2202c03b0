"""Where the CLI acts: the local system started by `litemx local up`, or a deployed stack.

The local system writes its endpoints to a state file while it runs; a stack is resolved from its
CloudFormation outputs. Either way the CLI ends up with the same `Target`, and operator commands use the
same domain functions and stores as the Lambdas.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from litemx.storage.tables import TableNames, bind_tables


class TargetError(RuntimeError):
    pass


@dataclass(frozen=True)
class Target:
    name: str  # "local" or the stack name
    region: str
    api_url: str
    tables: TableNames
    queues: dict[str, str] = field(
        default_factory=dict
    )  # send, send_dlq, feedback_dlq, inbound_dlq, webhooks_dlq
    # Functions the CLI invokes (`queue redrive feedback`): a stack's function names; in local mode, the
    # queue the local system drains into that handler as Lambda's asynchronous invocation would.
    functions: dict[str, str] = field(default_factory=dict)  # feedback
    buckets: dict[str, str] = field(default_factory=dict)  # raw_mail, outbound
    configuration_set: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # endpoint settings of the local AWS
    smtp: str | None = None  # host:port of the local SMTP listener
    pid: int | None = None

    @property
    def is_local(self) -> bool:
        return self.name == "local"

    def activate(self) -> None:
        """Point this process's AWS clients and table models at the target."""
        os.environ.update(self.env)
        os.environ.setdefault("AWS_DEFAULT_REGION", self.region)
        bind_tables(self.tables, region=self.region)

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Target:
        data: dict[str, Any] = json.loads(text)
        data["tables"] = TableNames(**data["tables"])
        return cls(**data)


def local_state_path() -> Path:
    home = Path(os.environ.get("LITEMX_HOME") or Path.home() / ".litemx")
    return home / "local.json"


def write_local_state(target: Target) -> Path:
    path = local_state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(target.to_json(), encoding="utf-8")
    return path


def clear_local_state() -> None:
    local_state_path().unlink(missing_ok=True)


def read_local_state() -> Target:
    path = local_state_path()
    if not path.exists():
        raise TargetError(
            "LiteMX is not running locally: start it with `litemx local up`, or pass --stack NAME"
        )
    target = Target.from_json(path.read_text(encoding="utf-8"))
    if target.pid is not None and not _alive(target.pid):
        raise TargetError(
            f"the local system (pid {target.pid}) is gone: start it again with `litemx local up`"
        )
    return target


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def from_stack_outputs(stack: str, region: str, outputs: dict[str, str]) -> Target:
    """A deployed stack, from its CloudFormation outputs (see infra/stack.py for their names)."""
    try:
        tables = TableNames(**{f.name: outputs[f"Table{f.name.capitalize()}"] for f in fields(TableNames)})
        return Target(
            name=stack,
            region=region,
            api_url=outputs["ApiUrl"].rstrip("/"),
            tables=tables,
            queues={
                "send": outputs["SendQueueUrl"],
                "send_dlq": outputs["SendDlqUrl"],
                "feedback_dlq": outputs["FeedbackDlqUrl"],
                "inbound_dlq": outputs["InboundDlqUrl"],
                # Webhooks have a DLQ and no work queue (the delivery function is invoked directly);
                # a stack deployed before webhooks has no DLQ either.
                **({"webhooks_dlq": outputs["WebhookDlqUrl"]} if "WebhookDlqUrl" in outputs else {}),
            },
            # A stack deployed before #13 names no feedback function (its feedback had a queue instead).
            functions={
                name: outputs[key] for name, key in (("feedback", "FeedbackFunctionName"),) if key in outputs
            },
            buckets={"raw_mail": outputs["RawMailBucketName"], "outbound": outputs["OutboundBucketName"]},
            configuration_set=outputs.get("ConfigurationSetName"),
        )
    except KeyError as missing:
        raise TargetError(f"stack {stack} has no output {missing}; is it a LiteMX stack?") from None


def resolve(stack: str | None = None, region: str | None = None) -> Target:
    if stack is None:
        return read_local_state()
    import boto3  # only when a deployed stack is the target

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise TargetError("--region is required with --stack")
    described = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}
    return from_stack_outputs(stack, region, outputs)
