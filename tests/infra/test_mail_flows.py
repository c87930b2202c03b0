"""Inbound, outbound and feedback wiring: the properties that decide whether mail is lost or leaks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import Synth
from tests.infra.helpers import actions_on, as_list, function_statements, litemx_functions, referenced_ids

# Not send (the sender knows; deliveries and bounces are the rates' denominator), not deliveryDelay.
# Always published; deliveries only with cdk.json `recordDeliveries` (the variant sets it).
FEEDBACK_EVENT_TYPES = {"bounce", "complaint", "reject"}


def _props(synth: Synth, construct: Any) -> dict[str, Any]:
    return synth.properties(construct)


# --- inbound -----------------------------------------------------------------------------------------


def test_receipt_rule_stores_to_s3_before_invoking_the_lambda(default):
    (rule,) = default.of_type("AWS::SES::ReceiptRule").values()
    actions = rule["Properties"]["Rule"]["Actions"]
    assert [next(iter(a)) for a in actions] == ["S3Action", "LambdaAction"]
    assert actions[0]["S3Action"]["BucketName"] == {"Ref": default.logical_id(default.stack.inbound.bucket)}
    assert (
        actions[1]["LambdaAction"]["FunctionArn"]["Fn::GetAtt"][0]
        == litemx_functions(default)["inbound"]["LogicalId"]
    )
    assert actions[1]["LambdaAction"]["InvocationType"] == "Event"


def test_receipt_rule_covers_the_domains_scans_and_requires_tls(variant):
    (rule,) = variant.of_type("AWS::SES::ReceiptRule").values()
    props = rule["Properties"]["Rule"]
    assert props["Recipients"] == ["example.com", "example.org"]
    assert props["ScanEnabled"] is True
    assert props["TlsPolicy"] == "Require"
    assert props["Enabled"] is True


def test_raw_mail_bucket_is_private_encrypted_tls_only_with_lifecycle(default):
    bucket = _props(default, default.stack.inbound.bucket)
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["LifecycleConfiguration"]["Rules"]
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {
        "Ref": default.logical_id(default.stack.data.access_logs)
    }


def test_only_ses_of_this_account_may_write_raw_mail(default):
    bucket_id = default.logical_id(default.stack.inbound.bucket)
    (policy,) = [
        p
        for p in default.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allows) == 1
    (allow,) = allows
    assert allow["Principal"] == {"Service": "ses.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_inbound_async_failures_go_to_a_dead_letter_queue(default):
    function = litemx_functions(default)["inbound"]
    dlq_id = default.logical_id(default.stack.inbound.dlq)
    assert function["Properties"]["DeadLetterConfig"]["TargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}


def test_rule_set_activation_is_opt_in(default, variant):
    def activations(synth: Synth) -> list[dict[str, Any]]:
        return [
            r
            for r in synth.of_type("Custom::AWS").values()
            if "setActiveReceiptRuleSet" in str(r["Properties"].get("Create", ""))
        ]

    assert activations(default) == []
    (activation,) = activations(variant)
    assert "setActiveReceiptRuleSet" in str(activation["Properties"]["Delete"])


# --- outbound ----------------------------------------------------------------------------------------


def _queue(synth: Synth, queue: Any) -> dict[str, Any]:
    return _props(synth, queue)


@pytest.mark.parametrize(("flow", "function"), [("outbound", "sender")])
def test_work_queues_have_a_dlq_encryption_tls_and_visibility_6x_timeout(default, flow, function):
    construct = getattr(default.stack, flow)
    queue = _queue(default, construct.queue)
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": [default.logical_id(construct.dlq), "Arn"]
    }
    assert queue["SqsManagedSseEnabled"] is True
    assert _queue(default, construct.dlq)["SqsManagedSseEnabled"] is True
    timeout = litemx_functions(default)[function]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    queue_id = default.logical_id(construct.queue)
    (policy,) = [
        p
        for p in default.of_type("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    )


@pytest.mark.parametrize(("flow", "function"), [("outbound", "sender")])
def test_queue_consumers_report_batch_item_failures(default, flow, function):
    queue_id = default.logical_id(getattr(default.stack, flow).queue)
    function_id = litemx_functions(default)[function]["LogicalId"]
    (mapping,) = [
        m["Properties"]
        for m in default.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    assert mapping["FunctionName"] == {"Ref": function_id}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


@pytest.mark.parametrize(("which", "concurrency"), [("default", 2), ("variant", 14)])
def test_sender_concurrency_follows_the_ses_send_rate(request, which, concurrency):
    synth = request.getfixturevalue(which)
    queue_id = synth.logical_id(synth.stack.outbound.queue)
    (mapping,) = [
        m["Properties"]
        for m in synth.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": concurrency}


def test_configuration_set_publishes_feedback_events_to_the_feedback_topic(default):
    (destination,) = default.of_type("AWS::SES::ConfigurationSetEventDestination").values()
    props = destination["Properties"]["EventDestination"]
    # By default no Delivery event: one per sent message, it would only move `sent` to `delivered`
    assert set(props["MatchingEventTypes"]) == FEEDBACK_EVENT_TYPES
    assert props["Enabled"] is True
    assert props["SnsDestination"]["TopicARN"] == {"Ref": default.logical_id(default.stack.feedback.topic)}
    (config_set,) = default.of_type("AWS::SES::ConfigurationSet").values()
    assert config_set["Properties"]["ReputationOptions"]["ReputationMetricsEnabled"] is True


def test_record_deliveries_adds_delivery_events_to_the_always_published_ones(variant):
    # Given cdk.json `recordDeliveries: true` (set by the variant)
    (destination,) = variant.of_type("AWS::SES::ConfigurationSetEventDestination").values()
    # Then the configuration set also publishes Delivery events, and still every other feedback event
    assert set(destination["Properties"]["EventDestination"]["MatchingEventTypes"]) == {
        *FEEDBACK_EVENT_TYPES,
        "delivery",
    }


def test_each_domain_is_an_identity_with_dkim_and_the_configuration_set(variant):
    identities = [r["Properties"] for r in variant.of_type("AWS::SES::EmailIdentity").values()]
    domains = [i for i in identities if "@" not in i["EmailIdentity"]]
    assert sorted(i["EmailIdentity"] for i in domains) == ["example.com", "example.org"]
    config_set_id = variant.logical_id(variant.stack.outbound.configuration_set)
    for identity in domains:
        assert identity["DkimAttributes"]["SigningEnabled"] is True
        assert identity["ConfigurationSetAttributes"]["ConfigurationSetName"] == {"Ref": config_set_id}
        assert identity["MailFromAttributes"]["MailFromDomain"] == f"bounce.{identity['EmailIdentity']}"
    assert [i["EmailIdentity"] for i in identities if "@" in i["EmailIdentity"]] == ["tester@example.net"]


def test_outbound_bucket_is_private_encrypted_and_expires(default):
    bucket = _props(default, default.stack.outbound.bucket)
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert any(r.get("ExpirationInDays") == 30 for r in bucket["LifecycleConfiguration"]["Rules"])


def test_the_api_may_use_all_the_time_api_gateway_waits(default):
    # A 40 MB message is read, composed and stored within one request; HTTP APIs wait at most 30 s
    assert litemx_functions(default)["api"]["Properties"]["Timeout"] == 29


def test_uploads_expire_after_a_day(default):
    # Attachments by upload are referenced within minutes; what is never sent must not stay for 30 days
    rules = _props(default, default.stack.outbound.bucket)["LifecycleConfiguration"]["Rules"]
    uploads = [r for r in rules if r.get("Prefix") == "uploads/"]
    assert [(r["Status"], r["ExpirationInDays"]) for r in uploads] == [("Enabled", 1)]


# --- feedback ----------------------------------------------------------------------------------------


def _feedback_ids(synth: Synth) -> tuple[str, str, str]:
    feedback = synth.stack.feedback
    function_id = litemx_functions(synth)["feedback"]["LogicalId"]
    return synth.logical_id(feedback.topic), function_id, synth.logical_id(feedback.dlq)


def test_sns_pushes_feedback_to_the_function_and_dead_letters_what_it_cannot_deliver(default):
    # Issue 13: no queue and no poller; SNS invokes the function, and its subscription's DLQ keeps what
    # SNS could not deliver (sns-dead-letter-queues)
    topic_id, function_id, dlq_id = _feedback_ids(default)
    (subscription,) = [
        s["Properties"]
        for s in default.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["TopicArn"] == {"Ref": topic_id}
    ]
    assert subscription["Protocol"] == "lambda"
    assert subscription["Endpoint"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert subscription["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    # The function gets SNS's event (Records[].Sns.Message), which the handler reads
    assert "RawMessageDelivery" not in subscription
    assert _props(default, default.stack.feedback.topic)["KmsMasterKeyId"]


def test_the_feedback_subscription_is_created_after_sns_may_invoke_the_function_and_fill_the_dlq(default):
    # Before them, a delivery would be refused (a client error: straight to the DLQ, or dropped)
    topic_id, function_id, _ = _feedback_ids(default)
    (depends,) = [
        set(s.get("DependsOn", []))
        for s in default.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["TopicArn"] == {"Ref": topic_id}
    ]
    permission_ids = {
        k
        for k, p in default.of_type("AWS::Lambda::Permission").items()
        if function_id in referenced_ids(p["Properties"]["FunctionName"])
    }
    policy_ids = {
        k for k, p in default.of_type("AWS::SQS::QueuePolicy").items() if k.startswith("FeedbackQueueDlq")
    }
    assert permission_ids
    assert policy_ids
    assert permission_ids | policy_ids <= depends


def test_feedback_has_no_queue_and_no_event_source_mapping(default):
    _, function_id, dlq_id = _feedback_ids(default)
    mappings = [
        m["Properties"]
        for m in default.of_type("AWS::Lambda::EventSourceMapping").values()
        if function_id in referenced_ids(m["Properties"]["FunctionName"])
    ]
    assert mappings == []
    queues = {k for k in default.of_type("AWS::SQS::Queue") if k.startswith("Feedback")}
    assert queues == {dlq_id}
    # The construct id of the feedback queue's DLQ before #13: the upgrade keeps it and what it holds
    assert dlq_id.startswith("FeedbackQueueDlq")


def test_only_the_feedback_topic_may_invoke_the_function_through_sns(default):
    topic_id, function_id, _ = _feedback_ids(default)
    permissions = [
        p["Properties"]
        for p in default.of_type("AWS::Lambda::Permission").values()
        if function_id in referenced_ids(p["Properties"]["FunctionName"])
    ]
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "sns.amazonaws.com",
            "SourceArn": {"Ref": topic_id},
        }
    ]


def test_a_failed_invocation_is_retried_twice_then_dead_lettered_with_its_event(default):
    # Lambda's asynchronous invocation: 2 retries (1 and 2 minutes later), throttled events kept up to
    # 6 h, then the DeadLetterConfig's queue, whose body is the event itself (the redrive replays it)
    _, function_id, dlq_id = _feedback_ids(default)
    (config,) = [
        c["Properties"]
        for c in default.of_type("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == 6 * 3600
    assert config["Qualifier"] == "$LATEST"
    assert "DestinationConfig" not in config
    function = default.resources[function_id]["Properties"]
    assert function["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    assert "sqs:SendMessage" in actions_on(
        function_statements(default, litemx_functions(default)["feedback"]), dlq_id
    )


def test_the_feedback_dlq_takes_sns_deliveries_from_the_feedback_topic_only(default):
    topic_id, _, dlq_id = _feedback_ids(default)
    dlq = default.resources[dlq_id]["Properties"]
    # SSE-SQS: SNS needs no KMS grant to write to it (its note on encrypted DLQs is about KMS keys)
    assert dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in default.of_type("AWS::SQS::QueuePolicy").values()
        if {"Ref": dlq_id} in p["Properties"]["Queues"]
    ]
    allows = [s for s in policy if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Action": "sqs:SendMessage",
            "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": topic_id}}},
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Resource": {"Fn::GetAtt": [dlq_id, "Arn"]},
        }
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy
    )


def test_the_topic_key_serves_only_its_publishers(default):
    # SNS decrypts a notification before it invokes a subscriber: the feedback function (and Lambda)
    # need nothing from the key; only the services that publish do
    key = _props(default, default.stack.topic_key)
    principals = [s.get("Principal", {}) for s in key["KeyPolicy"]["Statement"]]
    services = {p["Service"] for p in principals if "Service" in p}
    assert services == {"ses.amazonaws.com", "cloudwatch.amazonaws.com"}


def test_ses_may_publish_feedback_only_from_our_configuration_set(default):
    topic_id = default.logical_id(default.stack.feedback.topic)
    (policy,) = [
        p
        for p in default.of_type("AWS::SNS::TopicPolicy").values()
        if {"Ref": topic_id} in p["Properties"]["Topics"]
    ]
    (allow,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "ses.amazonaws.com"}
    assert "AWS:SourceArn" in allow["Condition"]["StringEquals"]
    config_set_id = default.logical_id(default.stack.outbound.configuration_set)
    assert config_set_id in referenced_ids(allow["Condition"])


def test_ses_can_use_the_feedback_topic_key(default):
    key = _props(default, default.stack.topic_key)
    assert key["EnableKeyRotation"] is True
    ses = [s for s in key["KeyPolicy"]["Statement"] if s.get("Principal") == {"Service": "ses.amazonaws.com"}]
    assert ses
    assert set(as_list(ses[0]["Action"])) == {"kms:GenerateDataKey", "kms:Decrypt"}
