"""What the stack costs per month before anyone sends: read off the template `cdk synth` makes with the
shipped cdk.json, priced at us-east-1 list prices (USD), with and without AWS's always-free allowances.

Only resources that bill by the month while idle are listed; everything billed per request (Lambda, API
Gateway, DynamoDB on demand, SQS, SNS, S3 requests) costs nothing without traffic, except the pollers of
SQS event source mappings (estimated below). Run with `make bench`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# us-east-1 list prices, per month.
KMS_KEY = 1.00  # per customer managed key (each automatic rotation adds $1 for the first two)
ALARM = 0.10  # per standard-resolution alarm metric (a metric-math alarm: per metric it reads)
DASHBOARD = 3.00
CUSTOM_METRIC = 0.30  # first 10,000 metrics
SECRET = 0.40
SQS_REQUEST = 0.40 / 1e6
# Always free, per account and month (they are shared with whatever else the account runs).
FREE_ALARMS, FREE_DASHBOARDS, FREE_METRICS, FREE_SQS_REQUESTS = 10, 3, 10, 1_000_000
# An idle SQS event source mapping long-polls (20 s) from its minimum of pollers; AWS does not publish the
# idle count, 5 concurrent long polls is the commonly observed figure: 5 x 3/min x 43,200 min.
IDLE_POLLS_PER_MAPPING = 5 * 3 * 43_200


@dataclass
class Row:
    what: str
    count: int
    list_price: float
    after_free: float
    note: str = ""


def template() -> dict[str, Any]:
    from aws_cdk import App

    from infra.app import build
    from infra.constructs.function import FunctionAssets

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for name in ("api", "sender", "inbound", "feedback", "webhooks"):
            handler = base / "code" / "functions" / name / "handler.py"
            handler.parent.mkdir(parents=True)
            handler.write_text("")
        with zipfile.ZipFile(base / "layer.zip", "w") as layer:
            layer.writestr("python/placeholder.py", "")
        context = json.loads((ROOT / "cdk.json").read_text())["context"]
        app = App(context=context, outdir=str(base / "out"))
        stack = build(app, FunctionAssets(code_dir=base / "code", layer_zip=base / "layer.zip"))
        assembly = app.synth()
        document: dict[str, Any] = assembly.get_stack_by_name(stack.stack_name).template
        return document


def _count(resources: dict[str, Any], cfn_type: str) -> int:
    return sum(1 for r in resources.values() if r["Type"] == cfn_type)


def _arn_of(value: Any) -> str:
    """The logical id an `Fn::GetAtt [Id, Arn]` points at ("" for anything else)."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return ""


def idle_rows(document: dict[str, Any]) -> list[Row]:
    resources = document["Resources"]
    keys = _count(resources, "AWS::KMS::Key")
    rotations = [
        int(r["Properties"].get("RotationPeriodInDays", 365))
        for r in resources.values()
        if r["Type"] == "AWS::KMS::Key" and r["Properties"].get("EnableKeyRotation")
    ]
    # CloudWatch bills an alarm per metric it watches: a metric-math alarm once per MetricStat in it.
    alarms = sum(
        max(1, sum(1 for q in r["Properties"].get("Metrics", []) if "MetricStat" in q))
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    )
    dashboards = _count(resources, "AWS::CloudWatch::Dashboard")
    zero_metrics = sum(
        1
        for r in resources.values()
        if r["Type"] == "AWS::Logs::MetricFilter"
        and any("DefaultValue" in t for t in r["Properties"].get("MetricTransformations", []))
    )
    secrets = _count(resources, "AWS::SecretsManager::Secret")
    mappings = sum(
        1
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and resources.get(_arn_of(r["Properties"].get("EventSourceArn")), {}).get("Type") == "AWS::SQS::Queue"
    )
    polls = mappings * IDLE_POLLS_PER_MAPPING
    return [
        Row(
            "KMS customer managed keys",
            keys,
            keys * KMS_KEY,
            keys * KMS_KEY,
            _rotation_note(rotations),
        ),
        Row("CloudWatch alarm metrics", alarms, alarms * ALARM, max(0, alarms - FREE_ALARMS) * ALARM),
        Row("CloudWatch dashboards", dashboards, dashboards * DASHBOARD, 0.0 if dashboards <= 3 else 3.0),
        Row(
            "custom metrics published at 0",
            zero_metrics,
            zero_metrics * CUSTOM_METRIC,
            max(0, zero_metrics - FREE_METRICS) * CUSTOM_METRIC,
        ),
        Row("Secrets Manager secrets", secrets, secrets * SECRET, secrets * SECRET),
        Row(
            "SQS pollers of event source mappings",
            mappings,
            polls * SQS_REQUEST,
            max(0, polls - FREE_SQS_REQUESTS) * SQS_REQUEST,
            f"estimate (AWS publishes no idle poller count): {polls:,} empty receives/month",
        ),
    ]


def _rotation_note(periods: list[int]) -> str:
    """Each automatic rotation adds $1/month to its key, for the first two rotations (KMS pricing)."""
    if not periods:
        return "no free tier; no automatic rotation"
    shortest = min(periods)
    return (
        f"no free tier; rotation every {shortest} days: +$1/month from day {shortest}, "
        f"+$2 from day {2 * shortest} (yearly rotation would be $3/month from the third year)"
    )


def design_floor() -> float:
    """The floor at list price (see floor_line): the one key and the send queue's poller."""
    return KMS_KEY + IDLE_POLLS_PER_MAPPING * SQS_REQUEST


def floor_line(rows: list[Row]) -> str:
    """What this design cannot do without: the one key (SES and CloudWatch publish to encrypted topics,
    and the AWS-managed SNS key cannot grant them) and the send queue's poller (the design card's SQS send
    queue and sender Lambda). Everything else listed is a choice the table shows."""
    one_mapping = IDLE_POLLS_PER_MAPPING * SQS_REQUEST
    one_mapping_free = max(0, IDLE_POLLS_PER_MAPPING - FREE_SQS_REQUESTS) * SQS_REQUEST
    by_what = {row.what: row for row in rows}
    extra = by_what["SQS pollers of event source mappings"].count - 1
    # Feedback has none since #13 (SNS pushes to its function); whatever else polls is counted, not named.
    others = (
        f"{extra} other poller{'s' if extra > 1 else ''} add{'' if extra > 1 else 's'} "
        f"${extra * one_mapping:.2f} at list price"
        if extra
        else "no other poller"
    )
    return (
        f"design floor: 1 KMS key + the send queue's poller = ${KMS_KEY + one_mapping:.2f} at list price, "
        f"${KMS_KEY + one_mapping_free:.2f} after the always-free allowances; {others}"
    )


def main() -> None:
    rows = idle_rows(template())
    print("Idle cost per month (shipped cdk.json, us-east-1 list prices)")
    print(f"{'resource':<40}{'count':>6}{'list $':>9}{'after free tier $':>19}  note")
    for row in rows:
        print(f"{row.what:<40}{row.count:>6}{row.list_price:>9.2f}{row.after_free:>19.2f}  {row.note}")
    total, free = sum(r.list_price for r in rows), sum(r.after_free for r in rows)
    print(f"{'total':<40}{'':>6}{total:>9.2f}{free:>19.2f}")
    alarms = next(r for r in rows if r.what == "CloudWatch alarm metrics")
    print(idle_verdict(total, free, total - alarms.list_price + alarms.after_free, floor=design_floor()))
    print(floor_line(rows))


TARGET = 1.00


def idle_verdict(list_total: float, after_free: float, alarms_free: float, *, floor: float) -> str:
    """Judged at list price, with the issue's own allowance that at most 10 alarms sit in CloudWatch's
    always-free tier; the figures at full list price and with every always-free allowance stand beside.
    A stack that misses the target only by what the design floor itself costs says so."""
    if alarms_free <= TARGET:
        verdict = "met"
    elif alarms_free <= floor + 0.005:
        verdict = f"NOT met, at the design floor of ${floor:.2f}"
    else:
        verdict = f"NOT met, ${alarms_free - floor:.2f} above the design floor"
    return (
        f"idle target ≤ ${TARGET:.2f}/month at list price, alarms within their free ten: {verdict} "
        f"(${alarms_free:.2f}; ${list_total:.2f} at full list price; ${after_free:.2f} if this account's "
        "free tier is otherwise unused)"
    )


if __name__ == "__main__":
    main()
