"""DynamoDB tables (key schemas derived from the pynamodb models) and the S3 access-log bucket.

Adding a table backed by a model is one line in `litemx.storage.tables.ALL_TABLE_MODELS` (plus its TTL
attribute in `TTL_ATTRIBUTES` if its items expire); tables the domain package does not model yet are
declared in `UNMODELLED_TABLES` below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct
from pynamodb.attributes import NumberAttribute
from pynamodb.models import Model

from infra.constructs.function import NamedTable
from litemx.storage.tables import ALL_TABLE_MODELS, TTL_ATTRIBUTES

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}


@dataclass(frozen=True)
class Key:
    name: str
    type: str = "S"

    def cdk(self) -> dynamodb.Attribute:
        return dynamodb.Attribute(name=self.name, type=_ATTRIBUTE_TYPES[self.type])


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition_key: Key
    sort_key: Key | None
    projection: str
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSpec:
    partition_key: Key
    sort_key: Key | None = None
    indexes: tuple[IndexSpec, ...] = ()
    ttl_attribute: str | None = None
    # Records people rely on survive `cdk destroy`; caches and idempotency records do not.
    retain: bool = True

    @classmethod
    def from_model(cls, role: str, model: type[Model]) -> TableSpec:
        schema = model._get_schema()
        types = {a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]}
        hash_key, range_key = _keys(schema["key_schema"], types)
        ttl = TTL_ATTRIBUTES.get(role)
        if ttl is not None and not isinstance(model.get_attributes().get(ttl), NumberAttribute):
            raise ValueError(f"{role}: TTL attribute {ttl!r} must be a NumberAttribute (epoch seconds)")
        return cls(
            partition_key=hash_key,
            sort_key=range_key,
            indexes=tuple(_index(i, types) for i in schema["global_secondary_indexes"]),
            ttl_attribute=ttl,
            retain=role not in EPHEMERAL_TABLES,
        )


def _keys(key_schema: Sequence[Mapping[str, Any]], types: dict[str, str]) -> tuple[Key, Key | None]:
    by_type = {str(k["KeyType"]): Key(k["AttributeName"], types[k["AttributeName"]]) for k in key_schema}
    return by_type["HASH"], by_type.get("RANGE")


def _index(index: Mapping[str, Any], types: dict[str, str]) -> IndexSpec:
    hash_key, range_key = _keys(index["key_schema"], types)
    projection = index["projection"]
    return IndexSpec(
        name=index["index_name"],
        partition_key=hash_key,
        sort_key=range_key,
        projection=projection["ProjectionType"],
        non_key_attributes=tuple(projection.get("NonKeyAttributes", ())),
    )


# Tables whose loss on `cdk destroy` costs nothing: Powertools' idempotency records (hours-long).
EPHEMERAL_TABLES = frozenset({"idempotency"})
# Tables LiteMX needs before the domain package models them (none at the moment).
UNMODELLED_TABLES: dict[str, TableSpec] = {}


def table_specs() -> dict[str, TableSpec]:
    specs = {role: TableSpec.from_model(role, model) for role, model in ALL_TABLE_MODELS.items()}
    overlap = specs.keys() & UNMODELLED_TABLES.keys()
    if overlap:
        raise ValueError(f"tables now modelled in litemx: drop them from UNMODELLED_TABLES: {overlap}")
    return specs | UNMODELLED_TABLES


class Data(Construct):
    """Every DynamoDB table, plus the bucket that receives the other buckets' server access logs."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.specs = table_specs()
        self.tables: dict[str, NamedTable] = {
            role: NamedTable(role, self._table(role, spec), has_indexes=bool(spec.indexes))
            for role, spec in self.specs.items()
        }
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        NagSuppressions.add_resource_suppressions(
            self.access_logs,
            [
                NagPackSuppression(
                    id="AwsSolutions-S1",
                    reason="This is the server-access-log destination of the other buckets; logging it "
                    "into itself would log its own log deliveries endlessly",
                )
            ],
        )

    def table(self, role: str) -> NamedTable:
        return self.tables[role]

    def _table(self, role: str, spec: TableSpec) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            role.capitalize(),
            partition_key=spec.partition_key.cdk(),
            sort_key=spec.sort_key.cdk() if spec.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            deletion_protection=spec.retain,
            removal_policy=RemovalPolicy.RETAIN if spec.retain else RemovalPolicy.DESTROY,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=index.partition_key.cdk(),
                sort_key=index.sort_key.cdk() if index.sort_key else None,
                projection_type=_PROJECTIONS[index.projection],
                non_key_attributes=list(index.non_key_attributes) or None,
            )
        return table
