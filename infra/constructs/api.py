"""HTTP API: API Gateway (HTTP API, throttled, access-logged) -> the api Lambda, which routes itself."""

from __future__ import annotations

import json

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import LiteMXConfig
from infra.constructs.access import DYNAMODB_ACTIONS
from infra.constructs.data import Data
from infra.constructs.function import FunctionFactory, log_retention
from infra.constructs.inbound import RAW_MAIL_PREFIX, Inbound
from infra.constructs.outbound import OUTBOUND_MIME_PREFIX, UPLOAD_PREFIX, Outbound

# A send with uploads reads up to 29 MB from S3, composes a message of up to 40 MB (about 2 s and 200 MB on
# one core here; slower on 512 MB's share of a vCPU) and writes it back: give it all the time an HTTP API
# integration may take (30 s), less a second for the gateway.
API_TIMEOUT = Duration.seconds(29)


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LiteMXConfig,
        factory: FunctionFactory,
        data: Data,
        outbound: Outbound,
        inbound: Inbound,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = factory.create(
            self,
            "Handler",
            name="api",
            description="LiteMX HTTP API: send, mailbox, usage and suppression endpoints",
            timeout=API_TIMEOUT,
        )
        fn = self.function
        for role, actions in DYNAMODB_ACTIONS["api"].items():
            fn.use_table(data.table(role), actions)
        fn.use_queue_sender("SEND_QUEUE_URL", outbound.queue)
        # Composed MIME under outbound/; attachments by upload under uploads/: the role signs the presigned
        # POST (so it needs PutObject there) and checks and reads what was uploaded (HeadObject is GetObject).
        fn.use_bucket_objects("OUTBOUND_BUCKET", outbound.bucket, f"{OUTBOUND_MIME_PREFIX}*", "s3:PutObject")
        fn.use_bucket_objects(
            "OUTBOUND_BUCKET", outbound.bucket, f"{UPLOAD_PREFIX}*", "s3:PutObject", "s3:GetObject"
        )
        # The read API signs short-lived URLs to received raw messages (signed with this role's rights).
        fn.use_bucket_objects("RAW_MAIL_BUCKET", inbound.bucket, f"{RAW_MAIL_PREFIX}*", "s3:GetObject")
        outbound.use_provider(fn, send=False)

        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            api_name=f"{config.resource_prefix}-api",
            description="LiteMX mailbox API",
            default_integration=integrations.HttpLambdaIntegration("Lambda", fn.function),
            create_default_stage=False,
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=config.api_throttle.rate_limit, burst_limit=config.api_throttle.burst_limit
            ),
            access_log_settings=_AccessLogs(apigwv2.LogGroupLogDestination(self.access_logs)),
        )
        NagSuppressions.add_resource_suppressions(
            self.http_api,
            [
                NagPackSuppression(
                    id="AwsSolutions-APIG4",
                    reason="Every route needs a LiteMX mailbox token; the api function verifies it against "
                    "the hashed token records in the directory table, with per-token scopes",
                ),
            ],
            apply_to_children=True,
        )

    @property
    def url(self) -> str:
        return self.stage.url


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    """One JSON line per request; `IAccessLogSettings` is a jsii interface, not a struct, hence a class."""

    def __init__(self, destination: apigwv2.IAccessLogDestination) -> None:
        self._destination = destination

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":")))


# HTTP API `$context` variables only (the REST API's `resourcePath` does not exist here): the route that
# matched, the raw path, and why an integration failed when it did.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationErrorMessage": "$context.integrationErrorMessage",
    "errorMessage": "$context.error.message",
}
