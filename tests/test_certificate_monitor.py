"""The certificate monitor as synthesized: schedule, metric, alarm per IdP."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match, Template

from mobile_sso.config import parse_config
from tests.conftest import example_data, template_of


def test_monitor_checks_every_12_hours_by_default(example_template: Template) -> None:
    example_template.has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "rate(12 hours)"}
    )


def test_monitor_reads_each_idps_metadata_url(example_template: Template) -> None:
    (function,) = [
        f
        for f in example_template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "cert_expiry_check.handler.handler"
    ]
    urls = json.dumps(function["Properties"]["Environment"]["Variables"]["METADATA_URLS"])
    assert "EntraID" in urls
    assert "federationmetadata.xml?appid=" in urls


def test_alarm_fires_below_30_days_and_when_no_value_arrives(
    example_template: Template,
) -> None:
    example_template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "SigningCertificateDaysToExpiry",
            "Namespace": "CognitoEntraSso",
            "Dimensions": [{"Name": "IdentityProvider", "Value": "EntraID"}],
            "Threshold": 30,
            "ComparisonOperator": "LessThanThreshold",
            "TreatMissingData": "breaching",
            "Statistic": "Minimum",
            "Period": 86400,
        },
    )


def test_metric_permission_is_limited_to_its_namespace(example_template: Template) -> None:
    example_template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "cloudwatch:PutMetricData",
                            "Condition": {
                                "StringEquals": {"cloudwatch:namespace": "CognitoEntraSso"}
                            },
                            "Effect": "Allow",
                            "Resource": "*",
                        }
                    ]
                )
            }
        },
    )


def with_monitoring(**monitoring: Any) -> Template:
    data = example_data()
    data["monitoring"] = monitoring
    return template_of(parse_config(data, "env.yaml"))


def test_threshold_schedule_and_topic_come_from_config() -> None:
    topic = "arn:aws:sns:eu-west-1:123456789012:sso-alarms"
    template = with_monitoring(
        certificate_expiry_days=45, check_every_hours=6, alarm_topic_arn=topic
    )
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(6 hours)"})
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"Threshold": 45, "AlarmActions": [topic]}
    )


def test_monitoring_can_be_turned_off() -> None:
    with_monitoring(enabled=False).resource_count_is("AWS::CloudWatch::Alarm", 0)


def test_no_monitor_without_entra() -> None:
    data = example_data()
    data["entra"] = []
    template_of(parse_config(data, "env.yaml")).resource_count_is("AWS::Events::Rule", 0)
