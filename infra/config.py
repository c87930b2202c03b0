"""LiteMX deployment settings, read from cdk.json context (`litemx:*` keys) and validated once.

Every bad value fails synth with a message naming the key, what was given and what is expected, so an
operator never deploys a half-configured stack. Defaults exist only where a wrong guess is harmless.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

PREFIX = "litemx:"

_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$"
)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Lambda's own platform log lines (START, REPORT, ...): SystemLogLevel of the JSON log format.
_PLATFORM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")
# The values CloudWatch Logs accepts for a log group's retention.
RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

# Regions where SES receives mail (the "Email receiving endpoints" table of the SES endpoints page,
# docs.aws.amazon.com/general/latest/gr/ses.html, as of January 2024). LiteMX receives and sends in one
# region, so the stack cannot work anywhere else. Extend this tuple when AWS adds a receiving region.
SES_RECEIVING_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "ca-central-1",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "ap-northeast-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
)
# Received raw mail (mailbox contents, and mail to unknown recipients) is deleted after this many days
# unless `rawMailExpirationDays` says otherwise: nothing accumulates forever by default.
DEFAULT_RAW_MAIL_EXPIRATION_DAYS = 365
# The audit trail (decisions, sends, operator actions) expires by DynamoDB TTL after this many days unless
# `auditRetentionDays` says otherwise: more than a year, so a year-on-year look back still finds it. At
# least 90 days (the outbound message records' own retention), at most 100 years.
DEFAULT_AUDIT_RETENTION_DAYS = 400
MIN_AUDIT_RETENTION_DAYS = 90

OutboundProvider = Literal["ses", "smtp"]


class ConfigError(ValueError):
    """A `litemx:*` context value is missing or invalid."""


@dataclass(frozen=True)
class SmtpSettings:
    """The SMTP relay: host and port in plain configuration, username and password in a Secrets Manager
    secret (a JSON object with `username` and `password`)."""

    host: str
    port: int
    secret: str

    @property
    def is_arn(self) -> bool:
        return self.secret.startswith("arn:")


@dataclass(frozen=True)
class ApiThrottle:
    rate_limit: int
    burst_limit: int


@dataclass(frozen=True)
class LiteMXConfig:
    environment: str
    region: str
    account: str | None
    domains: tuple[str, ...]
    # Domains whose SES identity already exists (console, another stack): used, never created or deleted.
    adopted_identities: tuple[str, ...]
    alarm_email: str
    outbound_provider: OutboundProvider
    smtp: SmtpSettings | None
    activate_rule_set: bool
    ses_send_rate: int
    verified_recipients: tuple[str, ...]
    log_retention_days: int
    log_level: str
    raw_mail_expiration_days: int
    outbound_mail_expiration_days: int
    api_throttle: ApiThrottle
    audit_retention_days: int = DEFAULT_AUDIT_RETENTION_DAYS
    dashboard: bool = False
    # X-Ray active tracing: off by default. Each trace costs money at LiteMX's volumes (a message is traced
    # by three or four functions), and the X-Ray SDK is the largest import of a cold start.
    tracing: bool = False
    # Lambda's platform lines: WARN drops START and REPORT (about 350 bytes of CloudWatch Logs per
    # invocation; durations, errors and throttles stay in Lambda's free metrics), INFO keeps them.
    platform_log_level: str = "WARN"

    @property
    def stack_name(self) -> str:
        return f"LiteMX-{self.environment}"

    @property
    def resource_prefix(self) -> str:
        """Prefix of the physical names LiteMX chooses itself (receipt rule set, configuration set)."""
        return f"litemx-{self.environment}"

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> LiteMXConfig:
        """Build from a context getter such as `app.node.try_get_context`."""
        return _Reader(get).read()

    @classmethod
    def from_mapping(cls, context: Mapping[str, Any]) -> LiteMXConfig:
        return cls.from_context(context.get)


class _Reader:
    def __init__(self, get: Callable[[str], Any]) -> None:
        self._get = get

    def read(self) -> LiteMXConfig:
        provider = self._provider()
        domains = self._domains()
        return LiteMXConfig(
            environment=self._match(
                "environment",
                _ENV_NAME,
                "lowercase letters, digits and '-', "
                "starting with a letter, at most 16 characters (e.g. 'prod')",
            ),
            region=self._region(),
            account=self._optional_match("account", _ACCOUNT, "a 12-digit AWS account id"),
            domains=domains,
            adopted_identities=self._adopted(domains),
            alarm_email=self._match("alarmEmail", _EMAIL, "an e-mail address for the ops alarms"),
            outbound_provider=provider,
            smtp=self._smtp(provider),
            activate_rule_set=self._bool("activateRuleSet", default=False),
            ses_send_rate=self._int("sesSendRate", default=1, low=1, high=10_000),
            verified_recipients=self._addresses("verifiedRecipients"),
            log_retention_days=self._retention(),
            log_level=self._choice("logLevel", _LOG_LEVELS, default="INFO"),
            raw_mail_expiration_days=self._int(
                "rawMailExpirationDays", default=DEFAULT_RAW_MAIL_EXPIRATION_DAYS, low=1, high=36_500
            ),
            outbound_mail_expiration_days=self._int(
                "outboundMailExpirationDays", default=30, low=1, high=36_500
            ),
            api_throttle=ApiThrottle(
                rate_limit=self._int("apiThrottleRate", default=50, low=1, high=10_000),
                burst_limit=self._int("apiThrottleBurst", default=100, low=1, high=5_000),
            ),
            audit_retention_days=self._int(
                "auditRetentionDays",
                default=DEFAULT_AUDIT_RETENTION_DAYS,
                low=MIN_AUDIT_RETENTION_DAYS,
                high=36_500,
            ),
            dashboard=self._bool("dashboard", default=False),
            tracing=self._bool("tracing", default=False),
            platform_log_level=self._choice("platformLogLevel", _PLATFORM_LOG_LEVELS, default="WARN"),
        )

    def _raw(self, key: str) -> Any:
        return self._get(PREFIX + key)

    @staticmethod
    def _fail(key: str, value: Any, expected: str) -> ConfigError:
        return ConfigError(f"cdk.json context '{PREFIX}{key}' is {value!r}: expected {expected}")

    def _match(self, key: str, pattern: re.Pattern[str], expected: str) -> str:
        value = self._raw(key)
        if not isinstance(value, str) or not pattern.match(value):
            raise self._fail(key, value, expected)
        return value

    def _optional_match(self, key: str, pattern: re.Pattern[str], expected: str) -> str | None:
        if self._raw(key) in (None, ""):
            return None
        return self._match(key, pattern, expected)

    def _bool(self, key: str, *, default: bool) -> bool:
        value = self._raw(key)
        if value is None:
            return default
        # The CLI's `-c key=value` passes strings: accept their two spellings, nothing vaguer.
        if isinstance(value, str) and value in ("true", "false"):
            return value == "true"
        if not isinstance(value, bool):
            raise self._fail(key, value, "true or false")
        return value

    def _optional_int(self, key: str, *, low: int, high: int) -> int | None:
        value = self._raw(key)
        if value is None:
            return None
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._fail(key, value, f"a whole number from {low} to {high}")
        return value

    def _int(self, key: str, *, default: int, low: int, high: int) -> int:
        value = self._optional_int(key, low=low, high=high)
        return default if value is None else value

    def _choice(self, key: str, choices: tuple[str, ...], *, default: str) -> str:
        value = self._raw(key)
        if value is None:
            return default
        if value not in choices:
            raise self._fail(key, value, "one of " + ", ".join(choices))
        return str(value)

    def _retention(self) -> int:
        value = self._int("logRetentionDays", default=30, low=1, high=3653)
        if value not in RETENTION_DAYS:
            raise self._fail(
                "logRetentionDays",
                value,
                "one of CloudWatch's retention periods: " + ", ".join(str(d) for d in RETENTION_DAYS),
            )
        return value

    def _provider(self) -> OutboundProvider:
        value = self._raw("outboundProvider")
        if value == "ses":
            return "ses"
        if value == "smtp":
            return "smtp"
        raise self._fail("outboundProvider", value, "'ses' or 'smtp'")

    def _smtp(self, provider: OutboundProvider) -> SmtpSettings | None:
        value = self._raw("smtpSecret")
        if provider == "ses":
            for key in ("smtpSecret", "smtpHost", "smtpPort"):
                if self._raw(key) not in (None, ""):
                    raise self._fail(key, self._raw(key), "no value while outboundProvider is 'ses'")
            return None
        expected = "the name or full ARN of the Secrets Manager secret holding the SMTP relay settings"
        if not isinstance(value, str) or not (
            _SECRET_ARN.match(value) or (not value.startswith("arn:") and _SECRET_NAME.match(value))
        ):
            raise self._fail("smtpSecret", value, expected)
        return SmtpSettings(
            host=self._match("smtpHost", _HOST, "the SMTP relay's host name, e.g. 'smtp.example.net'"),
            port=self._int("smtpPort", default=587, low=1, high=65_535),
            secret=value,
        )

    def _list(self, key: str, *, required: bool) -> list[str]:
        value = self._raw(key)
        if value is None and not required:
            return []
        if isinstance(value, str):
            # `-c litemx:domains=a.com,b.org` from the command line.
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, value, "a list of strings")
        if required and not value:
            raise self._fail(key, value, "at least one entry")
        lowered = [v.strip().lower() for v in value]
        if len(set(lowered)) != len(lowered):
            raise self._fail(key, value, "no duplicates")
        return lowered

    def _region(self) -> str:
        region = self._match("region", _REGION, "an AWS region name such as 'eu-west-1'")
        if region not in SES_RECEIVING_REGIONS:
            raise self._fail(
                "region",
                region,
                "a region where SES receives mail (LiteMX sends and receives in one region): "
                + ", ".join(SES_RECEIVING_REGIONS),
            )
        return region

    def _adopted(self, domains: tuple[str, ...]) -> tuple[str, ...]:
        adopted = tuple(self._list("adoptIdentities", required=False))
        for domain in adopted:
            if domain not in domains:
                raise self._fail("adoptIdentities", domain, "domains that are also in 'litemx:domains'")
        return adopted

    def _domains(self) -> tuple[str, ...]:
        domains = self._list("domains", required=True)
        for domain in domains:
            labels = domain.split(".")
            if len(domain) > 253 or len(labels) < 2 or not all(_DOMAIN_LABEL.match(lb) for lb in labels):
                raise self._fail("domains", domain, "domain names such as 'example.com'")
        return tuple(domains)

    def _addresses(self, key: str) -> tuple[str, ...]:
        addresses = self._list(key, required=False)
        for address in addresses:
            if not _EMAIL.match(address):
                raise self._fail(key, address, "e-mail addresses")
        return tuple(addresses)
