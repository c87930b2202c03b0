"""cdk-nag AwsSolutions on every synth, cfn-lint on the template, and the outputs the CLI reads."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Annotations, Match
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]

CLI_OUTPUTS = {
    "ApiUrl",
    "SendQueueUrl",
    "SendDlqUrl",
    "FeedbackDlqUrl",
    "FeedbackFunctionName",
    "InboundDlqUrl",
    "RawMailBucketName",
    "OutboundBucketName",
    "ConfigurationSetName",
    "ReceiptRuleSetName",
    "FeedbackTopicArn",
    "OpsTopicArn",
}


@pytest.mark.parametrize("which", ["default", "variant"])
def test_no_unacknowledged_cdk_nag_finding(request, which):
    synth = request.getfixturevalue(which)
    errors = Annotations.from_stack(synth.stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert errors == []
    warnings = Annotations.from_stack(synth.stack).find_warning(
        "*", Match.string_like_regexp("AwsSolutions-.*")
    )
    assert warnings == []


@pytest.mark.parametrize("which", ["default", "variant"])
def test_every_acknowledgment_has_a_real_reason(request, which):
    synth = request.getfixturevalue(which)
    for logical_id, resource in synth.resources.items():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            assert rule["id"].startswith("AwsSolutions-"), logical_id
            assert len(rule["reason"]) >= 40, (logical_id, rule)
            if rule["id"] == "AwsSolutions-IAM5":
                assert rule.get("applies_to"), (logical_id, rule)


@pytest.mark.parametrize("which", ["default", "variant"])
def test_cfn_lint_finds_no_errors(request, which):
    synth = request.getfixturevalue(which)
    matches = lint(
        json.dumps(synth.template.to_json()),
        config=ManualArgs(regions=[synth.stack.region], ignore_checks=["W3005"]),
    )
    assert [str(m) for m in matches if m.rule.id.startswith("E")] == []


def test_outputs_name_what_the_cli_needs(default):
    outputs = default.template.to_json()["Outputs"]
    assert set(outputs) >= CLI_OUTPUTS
    dkim = {k for k in outputs if k.startswith("Dkim")}
    assert dkim == {"Dkim1ExampleCom", "Dkim2ExampleCom", "Dkim3ExampleCom"}


def test_region_comes_from_context_not_the_machine(default):
    assert default.stack.region == "eu-west-1"
