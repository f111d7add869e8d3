"""The pre-token-generation trigger of the user pool: Entra groups in the tokens, and each
tenant held to its own email domains."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from mobile_sso.config import GROUPS_ATTRIBUTE, OVERAGE_ATTRIBUTE
from sso_constructs.bundling import REPO, PythonBundle

# "4 KB for all environment variables" of a function, keys and values together:
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
LAMBDA_ENVIRONMENT_BYTES = 4096

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


class PreTokenTrigger(Construct):
    """The pool's V2_0 pre-token-generation trigger, for two jobs.

    - `groups`: adds a `groups` claim (ids, or names from `group_names`) to ID and access
      tokens; `add_to_cognito_groups` also adds them to `cognito:groups`, which identity-pool
      role rules and API authorizers read.
    - `tenant_email_domains` (IdP name -> domains): refuses a token, so the sign-in or refresh
      fails, when one of those providers vouches for an email outside its domains.

    Uses the V2_0 trigger event (the only one that can change access tokens; needs the
    Essentials feature plan or higher). The map travels in an environment variable: a
    function's environment holds at most 4 KB, and a larger map is refused here.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        user_pool: cognito.UserPool,
        groups: bool = True,
        group_names: Mapping[str, str] | None = None,
        add_to_cognito_groups: bool = False,
        tenant_email_domains: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not groups and not tenant_email_domains:
            raise ValueError("PreTokenTrigger has nothing to do: pass groups or domains")
        environment = (
            {
                "GROUPS_ATTRIBUTE": f"custom:{GROUPS_ATTRIBUTE}",
                "OVERAGE_ATTRIBUTE": f"custom:{OVERAGE_ATTRIBUTE}",
                "ADD_TO_COGNITO_GROUPS": str(add_to_cognito_groups).lower(),
            }
            if groups
            else {"GROUPS_ENABLED": "false"}
        )
        if groups and group_names:
            environment["GROUP_NAMES"] = json.dumps(dict(group_names), sort_keys=True)
        if tenant_email_domains:
            environment["TENANT_EMAIL_DOMAINS"] = json.dumps(
                {name: list(domains) for name, domains in tenant_email_domains.items()},
                separators=(",", ":"),
            )
        _check_size(environment)
        self.function = PRE_TOKEN_BUNDLE.function(
            self,
            "Function",
            handler="pre_token_groups.handler.handler",
            timeout=Duration.seconds(5),
            environment=environment,
            description=_DESCRIPTIONS[(groups, bool(tenant_email_domains))],
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


_DESCRIPTIONS = {
    (True, False): "Puts Entra ID groups into Cognito ID and access tokens",
    (True, True): "Puts Entra ID groups into Cognito tokens; refuses emails outside each "
    "tenant's email_domains",
    (False, True): "Refuses Cognito tokens whose email is outside the Entra tenant's email_domains",
}


def _check_size(environment: Mapping[str, str]) -> None:
    size = sum(len(key.encode()) + len(value.encode()) for key, value in environment.items())
    if size <= LAMBDA_ENVIRONMENT_BYTES:
        return
    domains = environment.get("TENANT_EMAIL_DOMAINS", "")
    names = environment.get("GROUP_NAMES", "")
    raise ValueError(
        f"The pre-token trigger's environment would be {size} bytes; Lambda allows "
        f"{LAMBDA_ENVIRONMENT_BYTES} for all variables together. The tenants' email_domains "
        f"take {len(domains.encode())} bytes and groups.names {len(names.encode())}. "
        "Split the tenants over two stacks (user pools), list fewer email domains, or set "
        "enforce_email_domains: false on tenants whose domains need not be enforced (they "
        "can then sign in any email: see SECURITY.md, cross-tenant claims)."
    )
