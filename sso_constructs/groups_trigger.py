"""Entra groups in the tokens: the pre-token-generation trigger of the user pool."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from mobile_sso.config import GROUPS_ATTRIBUTE, OVERAGE_ATTRIBUTE
from sso_constructs.bundling import REPO, PythonBundle

PRE_TOKEN_BUNDLE = PythonBundle(
    source=REPO / "lambda" / "pre_token_groups",
    lock_file=REPO / "lambda" / "pre_token_groups" / "requirements.lock",
)


def group_attributes() -> dict[str, cognito.ICustomAttribute]:
    """The custom attributes the pool needs: mutable, since each sign-in rewrites them.

    Cognito fails a sign-in whose mapped value exceeds 2048 characters (~53 group ids).
    """
    return {
        name: cognito.StringAttribute(max_len=2048, mutable=True)
        for name in (GROUPS_ATTRIBUTE, OVERAGE_ATTRIBUTE)
    }


class GroupsTokenTrigger(Construct):
    """Adds a `groups` claim (ids, or names from `group_names`) to ID and access tokens.

    Uses the V2_0 trigger event (the only one that can change access tokens; needs the
    Essentials feature plan or higher). `add_to_cognito_groups` also adds them to
    `cognito:groups`, which identity-pool role rules and API authorizers read.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        user_pool: cognito.UserPool,
        group_names: Mapping[str, str] | None = None,
        add_to_cognito_groups: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {
            "GROUPS_ATTRIBUTE": f"custom:{GROUPS_ATTRIBUTE}",
            "OVERAGE_ATTRIBUTE": f"custom:{OVERAGE_ATTRIBUTE}",
            "ADD_TO_COGNITO_GROUPS": str(add_to_cognito_groups).lower(),
        }
        if group_names:
            environment["GROUP_NAMES"] = json.dumps(dict(group_names), sort_keys=True)
        self.function = PRE_TOKEN_BUNDLE.function(
            self,
            "Function",
            handler="pre_token_groups.handler.handler",
            timeout=Duration.seconds(5),
            environment=environment,
            description="Puts Entra ID groups into Cognito ID and access tokens",
        )
        user_pool.add_trigger(
            cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG,
            self.function,
            cognito.LambdaVersion.V2_0,
        )
        Validations.of(self).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                "service-role/AWSLambdaBasicExecutionRole]",
                reason="The trigger only writes its own logs (counts, never group values); it "
                "calls no AWS API.",
            ),
            Acknowledgment(
                id="AwsSolutions-L1",
                reason="python3.13 is supported by Lambda until mid-2029; the bundle's bytecode "
                "is compiled for exactly this version.",
            ),
        )
