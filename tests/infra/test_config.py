"""Configuration validation: bad cdk.json context fails synth with a message naming key and expectation."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, LiteMXConfig

VALID: dict[str, Any] = {
    "litemx:environment": "prod",
    "litemx:region": "eu-west-1",
    "litemx:domains": ["example.com"],
    "litemx:alarmEmail": "ops@example.com",
    "litemx:outboundProvider": "ses",
}


def config(**changes: Any) -> LiteMXConfig:
    context = VALID | {f"litemx:{k}": v for k, v in changes.items()}
    return LiteMXConfig.from_mapping({k: v for k, v in context.items() if v is not None})


def test_minimal_context_gets_safe_defaults():
    # Given only the required settings / When read
    cfg = config()
    # Then optional behaviour is off or conservative
    assert cfg.activate_rule_set is False
    assert cfg.smtp is None
    assert cfg.ses_send_rate == 1
    assert cfg.log_retention_days == 30
    assert cfg.raw_mail_expiration_days == 365
    assert cfg.audit_retention_days == 400
    assert cfg.dashboard is False
    assert cfg.record_deliveries is False
    assert cfg.adopted_identities == ()
    assert cfg.stack_name == "LiteMX-prod"


def test_cli_string_values_are_accepted():
    # Given values as `cdk synth -c key=value` passes them (strings)
    cfg = config(
        domains="Example.com, example.org", activateRuleSet="true", sesSendRate="14", recordDeliveries="true"
    )
    # Then they are parsed, and domains lower-cased
    assert cfg.domains == ("example.com", "example.org")
    assert cfg.activate_rule_set is True
    assert cfg.record_deliveries is True
    assert cfg.ses_send_rate == 14


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("environment", None, "litemx:environment"),
        ("environment", "Prod_1", "lowercase letters"),
        ("region", "Ireland", "AWS region"),
        ("region", "us-west-1", "a region where SES receives mail"),
        ("region", "eu-south-1", "eu-west-1"),
        ("adoptIdentities", ["other.example"], "also in 'litemx:domains'"),
        ("domains", [], "at least one"),
        ("domains", ["not a domain"], "domain names"),
        ("domains", ["example.com", "EXAMPLE.com"], "no duplicates"),
        ("alarmEmail", "ops", "e-mail address"),
        ("outboundProvider", "sendgrid", "'ses' or 'smtp'"),
        ("activateRuleSet", "yes", "true or false"),
        ("recordDeliveries", "on", "true or false"),
        ("sesSendRate", 0, "whole number"),
        ("auditRetentionDays", 30, "whole number"),
        ("auditRetentionDays", "forever", "whole number"),
        ("logRetentionDays", 42, "retention periods"),
        ("logLevel", "TRACE", "one of DEBUG"),
        ("smtpSecret", "litemx/smtp", "no value while outboundProvider is 'ses'"),
        ("smtpHost", "smtp.example.net", "no value while outboundProvider is 'ses'"),
    ],
)
def test_bad_values_fail_with_a_clear_message(key, value, message):
    with pytest.raises(ConfigError, match="litemx:") as raised:
        config(**{key: value})
    assert message in str(raised.value)


def test_smtp_provider_needs_its_secret_reference_and_host():
    with pytest.raises(ConfigError, match="smtpSecret"):
        config(outboundProvider="smtp", smtpHost="smtp.example.net")
    with pytest.raises(ConfigError, match="smtpHost"):
        config(outboundProvider="smtp", smtpSecret="litemx/smtp")


@pytest.mark.parametrize(
    ("secret", "is_arn"),
    [
        ("litemx/smtp-relay", False),
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:litemx/smtp-AbCdEf", True),
    ],
)
def test_smtp_secret_by_name_or_arn(secret, is_arn):
    cfg = config(outboundProvider="smtp", smtpSecret=secret, smtpHost="smtp.example.net")
    assert cfg.smtp is not None
    assert cfg.smtp.is_arn is is_arn
    assert cfg.smtp.port == 587


def test_cdk_json_context_is_valid():
    from tests.infra.conftest import cdk_context

    assert LiteMXConfig.from_mapping(cdk_context()).outbound_provider in ("ses", "smtp")
