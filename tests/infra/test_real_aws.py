"""Issue 12: what the synthesized template must say for the stack to work on real AWS (alarms that reach
someone, identities that survive edits, least privilege scoped to this stack's own resources)."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import Synth
from tests.infra.helpers import as_list, litemx_functions, referenced_ids

REGION = "eu-west-1"  # cdk.json


def render(value: Any) -> str:
    """A string-valued template expression as text: pseudo parameters as ${AWS::...}, Fn::Join joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("Ref") == "AWS::Partition":
        return "aws"
    if isinstance(value, dict) and "Ref" in value:
        return "${" + str(value["Ref"]) + "}"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(render(p) for p in parts)
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    raise AssertionError(f"cannot render {value!r}")


def _topic_arn(synth: Synth, topic_id: str) -> str:
    name = synth.resources[topic_id]["Properties"]["TopicName"]
    return f"arn:aws:sns:{REGION}:${{AWS::AccountId}}:{name}"


def _topic_policy_statements(synth: Synth, topic_id: str) -> list[dict[str, Any]]:
    return [
        s
        for p in synth.of_type("AWS::SNS::TopicPolicy").values()
        if {"Ref": topic_id} in p["Properties"]["Topics"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _alarm_action_topics(synth: Synth) -> set[str]:
    topics: set[str] = set()
    for alarm in synth.of_type("AWS::CloudWatch::Alarm").values():
        for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            topics |= {a["Ref"] for a in alarm["Properties"].get(key, [])}
    return topics


# --- 1. alarms reach someone ---------------------------------------------------------------------------


def test_every_alarm_action_topic_lets_cloudwatch_of_this_account_publish(default):
    topics = _alarm_action_topics(default)
    assert topics
    for topic_id in topics:
        allows = [
            s
            for s in _topic_policy_statements(default, topic_id)
            if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
        ]
        assert allows, f"{topic_id}: CloudWatch may not publish (the topic policy replaces the default one)"
        for allow in allows:
            assert "sns:Publish" in as_list(allow["Action"])
            assert allow["Resource"] == {"Ref": topic_id}
            assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
            assert render(allow["Condition"]["ArnLike"]["aws:SourceArn"]) == (
                f"arn:aws:cloudwatch:{REGION}:${{AWS::AccountId}}:alarm:*"
            )


def test_every_alarm_action_topic_key_lets_cloudwatch_encrypt_for_that_topic(default):
    for topic_id in _alarm_action_topics(default):
        key_id = default.resources[topic_id]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
        statements = default.resources[key_id]["Properties"]["KeyPolicy"]["Statement"]
        (allow,) = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
        assert set(as_list(allow["Action"])) == {"kms:GenerateDataKey", "kms:Decrypt"}
        context = allow["Condition"]["StringEquals"]["kms:EncryptionContext:aws:sns:topicArn"]
        assert render(context) == _topic_arn(default, topic_id)


# --- 10. topic keys: one key, each service statement pinned to its topic ------------------------------


def test_one_customer_key_whose_service_statements_name_their_topic(default):
    (key_id,) = default.of_type("AWS::KMS::Key")
    encrypted = {
        topic_id: _topic_arn(default, topic_id)
        for topic_id, topic in default.of_type("AWS::SNS::Topic").items()
        if topic["Properties"].get("KmsMasterKeyId") == {"Fn::GetAtt": [key_id, "Arn"]}
    }
    assert len(encrypted) == 2  # SES feedback, ops alarms
    statements = default.resources[key_id]["Properties"]["KeyPolicy"]["Statement"]
    services = [s for s in statements if "Service" in s.get("Principal", {})]
    assert {s["Principal"]["Service"] for s in services} == {"ses.amazonaws.com", "cloudwatch.amazonaws.com"}
    named = {
        render(s["Condition"]["StringEquals"]["kms:EncryptionContext:aws:sns:topicArn"]) for s in services
    }
    assert named == set(encrypted.values())
    for statement in services:
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_ses_keeps_its_configuration_set_scoped_publish_right(default):
    topic_id = default.logical_id(default.stack.feedback.topic)
    (allow,) = [
        s
        for s in _topic_policy_statements(default, topic_id)
        if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "ses.amazonaws.com"}
    ]
    assert allow["Condition"]["StringEquals"]["AWS:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert default.logical_id(default.stack.outbound.configuration_set) in referenced_ids(allow["Condition"])


# --- 5, 6. identities survive edits; existing identities are adopted -----------------------------------


def _identity_ids(synth: Synth) -> dict[str, str]:
    return {
        r["Properties"]["EmailIdentity"]: logical_id
        for logical_id, r in synth.of_type("AWS::SES::EmailIdentity").items()
    }


def test_removing_a_domain_leaves_the_other_identities_and_resources_in_place(synth_with):
    # Given the same stack with [a, b] and then with only [b]
    both = synth_with(domains=["a.example", "b.example"])
    only_b = synth_with(domains=["b.example"])
    # Then b's identity keeps its logical id and properties (no replacement, no AlreadyExists)
    assert _identity_ids(only_b)["b.example"] == _identity_ids(both)["b.example"]
    b_id = _identity_ids(only_b)["b.example"]
    assert only_b.resources[b_id] == both.resources[b_id]
    # And no resource of the smaller stack changes logical id: only a's own resources go away
    assert set(only_b.resources) <= set(both.resources)
    gone = set(both.resources) - set(only_b.resources)
    assert gone == {_identity_ids(both)["a.example"]}


def test_reordering_domains_changes_no_identity(synth_with):
    ab = synth_with(domains=["a.example", "b.example"])
    ba = synth_with(domains=["b.example", "a.example"])
    assert _identity_ids(ab) == _identity_ids(ba)


def test_an_adopted_identity_is_used_not_created(synth_with):
    # Given a.example already verified in SES outside this stack
    synth = synth_with(domains=["a.example", "b.example"], adoptIdentities=["a.example"])
    # Then the stack creates only b's identity
    assert set(_identity_ids(synth)) == {"b.example"}
    # And the sender may still send from a.example's identity
    sender = litemx_functions(synth)["sender"]
    role_id = sender["Properties"]["Role"]["Fn::GetAtt"][0]
    send_resources = [
        render(resource)
        for policy in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "ses:SendRawEmail" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]
    assert f"arn:aws:ses:{REGION}:${{AWS::AccountId}}:identity/a.example" in send_resources


# --- 8. dashboard: opt-in, named per region -------------------------------------------------------------


def test_dashboard_is_opt_in_and_named_per_region(default, synth_with):
    assert default.of_type("AWS::CloudWatch::Dashboard") == {}
    (dashboard,) = synth_with(dashboard=True).of_type("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == f"litemx-dev-{REGION}"


# --- 9. SES acts only for this stack's receipt rule -----------------------------------------------------

RULE_ARN = (
    f"arn:aws:ses:{REGION}:${{AWS::AccountId}}"
    ":receipt-rule-set/litemx-dev-inbound:receipt-rule/litemx-dev-domains"
)


def test_ses_may_write_raw_mail_only_for_this_stacks_receipt_rule(default):
    bucket_id = default.logical_id(default.stack.inbound.bucket)
    (policy,) = [
        p
        for p in default.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    (allow,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert render(allow["Condition"]["StringEquals"]["aws:SourceArn"]) == RULE_ARN
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    # And the rule is created only once SES may write (SES checks on creation)
    (rule_id,) = default.of_type("AWS::SES::ReceiptRule")
    policy_id = next(k for k, v in default.of_type("AWS::S3::BucketPolicy").items() if v == policy)
    assert policy_id in default.resources[rule_id]["DependsOn"]


def test_ses_may_invoke_the_inbound_function_only_for_this_stacks_receipt_rule(default):
    inbound = litemx_functions(default)["inbound"]["LogicalId"]
    permissions = [
        p["Properties"]
        for p in default.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "ses.amazonaws.com"
    ]
    assert len(permissions) == 1
    (permission,) = permissions
    assert inbound in referenced_ids(permission["FunctionName"])
    assert render(permission["SourceArn"]) == RULE_ARN
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}


# --- 12. access logs use HTTP API variables ---------------------------------------------------------------

# The $context variables API Gateway documents for HTTP API access logs that this format may use.
HTTP_API_LOG_VARIABLES = {
    "$context.requestId",
    "$context.identity.sourceIp",
    "$context.requestTime",
    "$context.httpMethod",
    "$context.routeKey",
    "$context.path",
    "$context.protocol",
    "$context.status",
    "$context.responseLength",
    "$context.responseLatency",
    "$context.integrationLatency",
    "$context.integrationStatus",
    "$context.integrationErrorMessage",
    "$context.error.message",
}


def test_access_log_format_uses_http_api_variables_only(default):
    (stage,) = default.of_type("AWS::ApiGatewayV2::Stage").values()
    fields = json.loads(stage["Properties"]["AccessLogSettings"]["Format"])
    used = set(fields.values())
    assert {"$context.routeKey", "$context.path", "$context.integrationErrorMessage"} <= used
    assert used <= HTTP_API_LOG_VARIABLES, used - HTTP_API_LOG_VARIABLES


# --- raw mail retention -----------------------------------------------------------------------------------


def test_raw_mail_expires_after_a_year_by_default(default):
    bucket = default.properties(default.stack.inbound.bucket)
    expiring = [r for r in bucket["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert [r["ExpirationInDays"] for r in expiring] == [365]


# --- 2. deferrals never dead-letter; the sender knows where the DLQ begins -----------------------------


def test_sender_knows_the_send_queues_max_receive_count_and_may_requeue(default):
    from functions.outbound_settings import OutboundSettings

    sender = litemx_functions(default)["sender"]
    queue = default.properties(default.stack.outbound.queue)
    env = sender["Properties"]["Environment"]["Variables"]
    assert int(env["SEND_MAX_RECEIVE_COUNT"]) == queue["RedrivePolicy"]["maxReceiveCount"]
    # A failed attempt's record comes back only after its lease ran out (else it would be deferred)
    lease = OutboundSettings.model_fields["send_lease_seconds"].default
    assert queue["VisibilityTimeout"] > int(env.get("SEND_LEASE_SECONDS", lease))
    role_id = sender["Properties"]["Role"]["Fn::GetAtt"][0]
    queue_id = default.logical_id(default.stack.outbound.queue)
    statements = [
        s
        for p in default.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert any(
        "sqs:SendMessage" in as_list(s["Action"]) and queue_id in referenced_ids(s["Resource"])
        for s in statements
    )


# --- 4. the send rate holds although SQS runs at least two senders --------------------------------------


def test_every_sender_takes_from_one_bucket_sized_by_the_send_rate(default, variant):
    for synth, rate in ((default, 1), (variant, 14)):
        sender = litemx_functions(synth)["sender"]
        env = sender["Properties"]["Environment"]["Variables"]
        assert env["SEND_RATE_PER_SECOND"] == str(rate)
        # The bucket lives in the usage table: the sender may update its counters
        usage_id = synth.logical_id(synth.stack.data.table("usage").table)
        role_id = sender["Properties"]["Role"]["Fn::GetAtt"][0]
        allowed = {
            action
            for p in synth.of_type("AWS::IAM::Policy").values()
            if {"Ref": role_id} in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if usage_id in referenced_ids(s["Resource"])
            for action in as_list(s["Action"])
        }
        assert "dynamodb:UpdateItem" in allowed
    (mapping,) = [
        m["Properties"]
        for m in default.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": litemx_functions(default)["sender"]["LogicalId"]}
    ]
    # Two senders at once (SQS's minimum) with a rate of 1: only the bucket keeps the rate
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == 2
