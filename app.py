#!/usr/bin/env python3
"""The CDK app: one stack for the environment chosen with `-c env=NAME` (default: example)."""

import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from mobile_sso.config import ConfigError, load_config
from stacks.sso_stack import MobileSsoStack

app = cdk.App()
env_name = app.node.try_get_context("env") or "example"
try:
    config = load_config(env_name)
except ConfigError as error:
    sys.exit(f"Invalid config:\n{error}")

MobileSsoStack(
    app,
    config.stack_name,
    config=config,
    env=cdk.Environment(account=config.account, region=config.region),
    description=f"Cognito + Microsoft Entra ID single sign-on for mobile apps ({env_name})",
)
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
