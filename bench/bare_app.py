"""The floor for synth time: a CDK app that defines only a user pool."""

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito

app = cdk.App()
stack = cdk.Stack(app, "BarePool", env=cdk.Environment(account="123456789012", region="eu-west-1"))
cognito.UserPool(stack, "Pool")
app.synth()
