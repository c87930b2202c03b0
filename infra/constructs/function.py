"""The one place Lambda defaults live: runtime, architecture, tracing, logs, code asset, layer, env.

Each handler is then a few lines in its own construct: `factory.create(...)` and the `use_*` calls that
grant exactly what it needs. Every function knows every table's name (`TABLE_<ROLE>`, read by
`functions.settings.table_names`), but its role reaches only the tables granted through `use_table`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnElement, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import LiteMXConfig

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
METRICS_NAMESPACE = "LiteMX"
# What never belongs in the code asset (CDK hashes __pycache__ too, so a stray .pyc changes the hash).
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/*.egg-info"]

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def log_retention(days: int) -> logs.RetentionDays:
    """config.py has validated `days` against the same list CloudWatch accepts."""
    return _RETENTION[days]


@dataclass(frozen=True)
class FunctionAssets:
    """What `make assets` builds: functions/ + the litemx package, and the zipped dependency layer."""

    code_dir: Path
    layer_zip: Path

    def check(self) -> None:
        missing = [str(p) for p in (self.code_dir, self.layer_zip) if not p.exists()]
        if missing:
            raise FileNotFoundError(
                f"Lambda assets not built ({', '.join(missing)} missing): run `make assets` first"
            )


@dataclass(frozen=True)
class NamedTable:
    """A table and the role name that gives its environment variable (`TABLE_<ROLE>`)."""

    role: str
    table: dynamodb.Table
    has_indexes: bool = False

    @property
    def env_var(self) -> str:
        return table_env_var(self.role)


def table_env_var(role: str) -> str:
    return f"TABLE_{role.upper()}"


class LiteMXFunction(Construct):
    """One handler: its own role, its own log group, and the access granted through `use_*`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        description: str,
        factory: FunctionFactory,
        timeout: Duration,
        memory_size: int,
        dead_letter_queue: sqs.IQueue | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = name
        self.tables: dict[str, tuple[str, ...]] = {}
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention(factory.config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        # A role of its own with only its log group, instead of AWSLambdaBasicExecutionRole's any-group.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"LiteMX {name} function",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=f"functions/{name}/handler.handler",
            code=factory.code,
            layers=[factory.layer],
            role=self.role,
            timeout=timeout,
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE if factory.config.tracing else lambda_.Tracing.DISABLED,
            log_group=self.log_group,
            dead_letter_queue=dead_letter_queue,
            # JSON logs with Lambda's log-level filtering. Platform lines (START, REPORT: about 350 bytes per
            # invocation, more than the one line a handler writes per message) only at the configured
            # level, WARN by default. The application level stays INFO (DEBUG when asked for): the
            # metrics' EMF lines carry no level, count as INFO, and a higher level would drop them;
            # Powertools filters WARNING and ERROR itself (LOG_LEVEL).
            logging_format=lambda_.LoggingFormat.JSON,
            system_log_level_v2=lambda_.SystemLogLevel[factory.config.platform_log_level],
            application_log_level_v2=(
                lambda_.ApplicationLogLevel.DEBUG
                if factory.config.log_level == "DEBUG"
                else lambda_.ApplicationLogLevel.INFO
            ),
            environment={
                "POWERTOOLS_SERVICE_NAME": f"litemx-{name}",
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "LOG_LEVEL": factory.config.log_level,
                # functions/observability.py: without tracing the X-Ray SDK is never imported.
                "POWERTOOLS_TRACE_DISABLED": "false" if factory.config.tracing else "true",
                "LITEMX_ENVIRONMENT": factory.config.environment,
                # Every function writes audit entries; their TTL (functions/settings.audit_retention).
                "AUDIT_RETENTION_DAYS": str(factory.config.audit_retention_days),
                **{table.env_var: table.table.table_name for table in factory.tables.values()},
            },
        )
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Resource '*' only for actions IAM cannot scope to a resource: X-Ray "
                    "PutTraceSegments/PutTelemetryRecords when tracing is on (every function), read-only "
                    "SES account status (api, sender); the infra tests pin which actions may use it",
                    applies_to=["Resource::*"],
                )
            ],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            self.function,
            [
                NagPackSuppression(
                    id="AwsSolutions-L1",
                    reason="Pinned to Python 3.12: the dependency layer is built and tested for 3.12 "
                    "(cp312 wheels); moving runtime is a deliberate upgrade, not a drift",
                )
            ],
        )

    @property
    def function_name(self) -> str:
        return self.function.function_name

    def set_env(self, key: str, value: str) -> None:
        self.function.add_environment(key, value)

    def use_table(self, table: NamedTable, actions: Iterable[str]) -> None:
        """Exactly `actions` on the table (and its indexes), as the function's code performs them; the
        list per function lives in infra/constructs/access.py."""
        granted = tuple(sorted(set(actions)))
        if not granted or not all(a.startswith("dynamodb:") and "*" not in a for a in granted):
            raise ValueError(f"{self.name}: name DynamoDB actions one by one for {table.role}: {granted}")
        table.table.grant(self.role, *granted)
        self.tables[table.role] = granted
        self._acknowledge_index_wildcard(table)

    def use_bucket_objects(self, env_var: str, bucket: s3.Bucket, keys: str, *actions: str) -> None:
        """Object-level actions only, named one by one (no `s3:GetObject*`-style action wildcards)."""
        bucket.grants.actions_on_object_keys(self.role, keys, *actions)
        self.set_env(env_var, bucket.bucket_name)
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=f"{self.name} works on objects it cannot name in advance: access is limited to "
                    f"{', '.join(actions)} on keys '{keys}' of the one bucket it needs",
                    applies_to=[f"Resource::<{_logical_id(bucket)}.Arn>/{keys}"],
                )
            ],
            apply_to_children=True,
        )

    def use_queue_sender(self, env_var: str, queue: sqs.IQueue) -> None:
        queue.grant_send_messages(self.role)
        self.set_env(env_var, queue.queue_url)

    def _acknowledge_index_wildcard(self, table: NamedTable) -> None:
        if not table.has_indexes:
            return
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=f"Queries on the {table.role} table's own secondary indexes: CDK grants "
                    "'<table>/index/*', scoped to that one table",
                    applies_to=[f"Resource::<{_logical_id(table.table)}.Arn>/index/*"],
                )
            ],
            apply_to_children=True,
        )


class FunctionFactory(Construct):
    """Owns the shared code asset (functions/ + litemx) and the dependency layer; builds functions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LiteMXConfig,
        assets: FunctionAssets,
        tables: Mapping[str, NamedTable],
    ) -> None:
        super().__init__(scope, construct_id)
        assets.check()
        self.config = config
        self.tables = tables
        self.code = lambda_.Code.from_asset(str(assets.code_dir), exclude=ASSET_EXCLUDES)
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            description="LiteMX pinned dependencies (Powertools, pynamodb, boto3) for Python 3.12 arm64",
            code=lambda_.Code.from_asset(str(assets.layer_zip)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            removal_policy=RemovalPolicy.DESTROY,
        )

    def create(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        description: str,
        timeout: Duration,
        memory_size: int = 512,
        dead_letter_queue: sqs.IQueue | None = None,
    ) -> LiteMXFunction:
        """`dead_letter_queue` is for asynchronously invoked handlers only."""
        return LiteMXFunction(
            scope,
            construct_id,
            name=name,
            description=description,
            factory=self,
            timeout=timeout,
            memory_size=memory_size,
            dead_letter_queue=dead_letter_queue,
        )


def _logical_id(construct: Construct) -> str:
    """The logical id cdk-nag prints for `Fn::GetAtt <id>.Arn` of a construct's CloudFormation resource."""
    child = construct.node.default_child
    if not isinstance(child, CfnElement):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource")
    return Stack.of(construct).get_logical_id(child)
