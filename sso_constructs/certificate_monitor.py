"""A scheduled check of the Entra signing certificates, with an alarm before they expire."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from sso_constructs.bundling import REPO, PythonBundle

NAMESPACE = "CognitoEntraSso"
METRIC_NAME = "SigningCertificateDaysToExpiry"

CERT_CHECK_BUNDLE = PythonBundle(
    source=REPO / "lambda" / "cert_expiry_check",
    lock_file=REPO / "lambda" / "cert_expiry_check" / "requirements.lock",
)


class CertificateExpiryMonitor(Construct):
    """Publishes each IdP's signing-certificate days-to-expiry and alarms below a threshold.

    Every `check_every` (default 12 hours) a function reads each metadata URL, the very
    document Cognito reads, and publishes the metric `SigningCertificateDaysToExpiry`
    (namespace `CognitoEntraSso`, dimension `IdentityProvider`). One alarm per IdP fires
    when the minimum over a day drops below `threshold_days`, and also when no value
    arrived (an unreadable metadata URL must be as loud as an expiring certificate).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        metadata_urls: Mapping[str, str],
        threshold_days: int = 30,
        check_every: Duration | None = None,
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not 1 <= threshold_days <= 365:
            raise ValueError(f"threshold_days must be 1-365, got {threshold_days}")
        self.function = CERT_CHECK_BUNDLE.function(
            self,
            "Function",
            handler="cert_expiry_check.handler.handler",
            timeout=Duration.minutes(1),
            environment={
                "METADATA_URLS": Stack.of(self).to_json_string(dict(metadata_urls)),
                "METRIC_NAMESPACE": NAMESPACE,
            },
            description="Publishes the days until each Entra SAML signing certificate expires",
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": NAMESPACE}},
            )
        )
        events.Rule(
            self,
            "Schedule",
            schedule=events.Schedule.rate(check_every or Duration.hours(12)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )
        self.alarms = {
            idp: self._alarm(idp, threshold_days, alarm_topic) for idp in sorted(metadata_urls)
        }
        Validations.of(self).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="cloudwatch:PutMetricData has no resource-level permissions; the "
                "statement is limited to the CognitoEntraSso namespace by a condition.",
            ),
            Acknowledgment(
                id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                "service-role/AWSLambdaBasicExecutionRole]",
                reason="The check writes its own logs (IdP names and day counts only).",
            ),
            Acknowledgment(
                id="AwsSolutions-L1",
                reason="python3.13 is supported by Lambda until mid-2029; the bundle's bytecode "
                "is compiled for exactly this version.",
            ),
        )

    def _alarm(self, idp: str, threshold_days: int, topic: sns.ITopic | None) -> cloudwatch.Alarm:
        metric = cloudwatch.Metric(
            namespace=NAMESPACE,
            metric_name=METRIC_NAME,
            dimensions_map={"IdentityProvider": idp},
            statistic="Minimum",
            period=Duration.days(1),
        )
        alarm = cloudwatch.Alarm(
            self,
            f"Alarm-{idp}",
            metric=metric,
            threshold=threshold_days,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            alarm_description=(
                f"The SAML signing certificate of identity provider {idp!r} expires in less "
                f"than {threshold_days} days, or its metadata URL could not be checked. When "
                "it expires, Cognito refuses every sign-in through it. Roll the certificate "
                "in the Entra admin center (Single sign-on > SAML certificates)."
            ),
        )
        if topic is not None:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
        return alarm
