"""Property: every config the model accepts synthesizes a template cfn-lint finds no error in.

Hypothesis draws configs across the model's valid space (several tenants and clients, names
at their edge lengths with Unicode letters, marks, symbols and punctuation, each optional
feature on and off), synthesizes each in-process (bundling skipped) and lints the template
with cfn-lint's Python API, which carries CloudFormation's registry schemas. Zero errors
(rules E*) is the property; warnings are another test's business (tests/test_stack.py).

`HYPOTHESIS_CFN_EXAMPLES` sets the number of examples (default 12, under a minute on a
shared machine); CI runs them derandomized, so a failure reproduces.
"""

from __future__ import annotations

import json
import os
import string
from typing import Any

from aws_cdk.assertions import Template
from cfnlint.api import ManualArgs, lint
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from mobile_sso.config import RESERVED_IDP_NAMES, ConfigError, EnvironmentConfig, parse_config
from tests.conftest import build_stack

EXAMPLES = int(os.environ.get("HYPOTHESIS_CFN_EXAMPLES", "12"))
# A fixed number of derandomized examples unless more are asked for, which explore anew.
DERANDOMIZE = "HYPOTHESIS_CFN_EXAMPLES" not in os.environ

ACCOUNT = "123456789012"
GUIDS = [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(1, 10)]
CERT = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12

# cfn-lint 1.58.0 compares primary identifiers with cfnlint.jsonschema._utils.equal, which
# reads a string "false" (any case) as a boolean equal to every other string but "true": two
# IdPs or resource servers, one of them named "False", get a false E3019 (duplicate primary
# identifier). A linter bug, not a CloudFormation rule; such names stay out of the draw.
CFN_LINT_FALSE = "false"

# Characters of the categories an IdP name may hold: letters, marks, digits, punctuation and
# symbols, ASCII and not; '_' and ',' come from the rules, not from chance.
name_characters = st.characters(
    categories=["Lu", "Ll", "Lo", "Mn", "Nd", "No", "Pd", "Po", "Ps", "Sm", "So", "Sc"],
    exclude_characters="_,",
)
lower_alnum = st.sampled_from(string.ascii_lowercase + string.digits)


def spoil(draw: st.DrawFn, value: str, bad: str) -> str:
    """Now and then, `value` with one character of `bad` put in: values just past the
    model's edge, which the model must refuse (the example is then rejected) or else
    survive cfn-lint like any other."""
    if draw(st.integers(0, 4)):
        return value
    at = draw(st.integers(0, len(value)))
    return value[:at] + draw(st.sampled_from(bad)) + value[at:]


@st.composite
def idp_names(draw: st.DrawFn) -> str:
    length = draw(st.sampled_from([3, 4, 12, 31, 32]))
    name = "".join(draw(st.lists(name_characters, min_size=length, max_size=length)))
    if draw(st.booleans()):
        name = name[0] + "_" + name[2:]  # '_' is allowed as the second character only
    if name.lower() in RESERVED_IDP_NAMES or name.lower() == CFN_LINT_FALSE:
        reject()
    return spoil(draw, name, " _,\t\u00a0\u200b")


@st.composite
def email_domains(draw: st.DrawFn) -> str:
    label = draw(st.text(lower_alnum, min_size=1, max_size=draw(st.sampled_from([35, 45]))))
    return f"{label}.{draw(st.sampled_from(['com', 'co.uk', 'io']))}"


tag_text = st.text(
    st.one_of(
        st.characters(categories=["L", "N"]),
        st.sampled_from(" _.:/=+-@"),
    ),
    min_size=1,
    max_size=40,
)

# Free text (descriptions, notes): anything printable.
free_text = st.text(st.characters(exclude_categories=["C"]), min_size=1, max_size=40)

url_text = st.text(
    st.characters(categories=["L", "M", "N", "P", "S"], exclude_characters="#"),
    min_size=1,
    max_size=30,
)


@st.composite
def tenants(draw: st.DrawFn, count: int) -> list[dict[str, Any]]:
    names = draw(
        st.lists(idp_names(), min_size=count, max_size=count, unique_by=lambda n: n.lower())
    )
    domains = draw(st.lists(email_domains(), min_size=0, max_size=3 * count, unique=True))
    result = []
    for index, name in enumerate(names):
        tenant: dict[str, Any] = {"tenant_id": GUIDS[index], "idp_name": name}
        if draw(st.booleans()):
            tenant["credentials_secret"] = draw(
                st.sampled_from(
                    [
                        "mobile-sso/entra-deployer",
                        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:entra-AbCdEf",
                    ]
                )
            )
        else:
            tenant["federation"] = {"client_id": GUIDS[-1]}
        tenant["email_domains"] = domains[index::count]
        tenant["cloud"] = draw(st.sampled_from(["global", "usgov", "china"]))
        tenant["idp_signout"] = draw(st.booleans())
        tenant["sign_requests"] = draw(st.booleans())
        tenant["idp_initiated"] = draw(st.integers(0, 3)) == 0  # its target: see configs
        if draw(st.booleans()):
            tenant["display_name"] = draw(free_text)
        tenant["assignments"] = {"users": GUIDS[: draw(st.integers(0, 2))]}
        if draw(st.booleans()):
            tenant["attribute_mapping"] = {
                "name": "http://schemas.microsoft.com/identity/claims/displayname",
                "given_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
            }
        if draw(st.booleans()):
            tenant["notes"] = draw(free_text)
        result.append(tenant)
    return result


@st.composite
def resource_servers(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(0, 2))
    identifiers = draw(
        st.lists(
            st.text(
                st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\,'),
                min_size=1,
                max_size=60,
            ),
            min_size=count,
            max_size=count,
            unique=True,
        ).filter(lambda ids: CFN_LINT_FALSE not in map(str.lower, ids))
    )
    scope_name = st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\,/'),
        min_size=1,
        max_size=40,
    )
    servers = []
    for identifier in identifiers:
        names = draw(st.lists(scope_name, min_size=1, max_size=3, unique=True))
        servers.append(
            {
                "identifier": identifier,
                "name": draw(
                    st.text(
                        st.one_of(
                            st.characters(categories=["L", "Nd"]), st.sampled_from(" _+=,.@-")
                        ),
                        min_size=1,
                        max_size=30,
                    )
                ),
                "scopes": [{"name": n, "description": draw(free_text)} for n in names],
            }
        )
    return servers


@st.composite
def clients(
    draw: st.DrawFn, providers: list[str], scopes: list[str], groups: bool
) -> list[dict[str, Any]]:
    names = draw(
        st.lists(
            st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4})?", fullmatch=True),
            min_size=1,
            max_size=3,
            unique_by=lambda n: n.replace("-", ""),
        )
    )
    result = []
    for name in names:
        scheme = draw(st.sampled_from(["com.example.app", "myapp", "https"]))
        tail = spoil(draw, draw(url_text), "\u200b\u2028\x7f")
        callback = f"https://app.example.com/{tail}" if scheme == "https" else f"{scheme}://{tail}"
        standard = ["openid", "email", "profile", "phone"]
        if not groups:
            standard.append("aws.cognito.signin.user.admin")
        client: dict[str, Any] = {
            "name": name,
            "platform": draw(st.sampled_from(["ios", "android", "web"])),
            "callback_urls": [callback],
            "sign_out_urls": [callback + "/out"],
            "scopes": [
                "openid",
                *draw(
                    st.lists(
                        st.sampled_from([*standard[1:], *scopes, "orders/read"]),
                        unique=True,
                        max_size=4,
                    )
                ),
            ],
            "oauth_flows": draw(
                st.sampled_from([["authorization_code"], ["authorization_code", "implicit"]])
            ),
            "generate_secret": draw(st.booleans()),
            "allow_cognito_users": draw(st.booleans()),
        }
        some_providers = draw(st.booleans())
        if providers and some_providers:
            client["identity_providers"] = draw(
                st.lists(st.sampled_from(providers), unique=True, max_size=len(providers))
            )
        if draw(st.booleans()):
            client["token_validity"] = {
                "id_token_minutes": draw(st.sampled_from([5, 60, 1440])),
                "access_token_minutes": draw(st.sampled_from([5, 60, 1440])),
                "refresh_token_days": draw(st.sampled_from([1, 30, 3650])),
            }
        result.append(client)
    return result


@st.composite
def configs(draw: st.DrawFn) -> EnvironmentConfig:
    stage = draw(st.sampled_from(["dev", "staging", "prod"]))
    tenant_count = draw(st.integers(0, 3))
    groups = tenant_count > 0 and draw(st.booleans())
    entra = draw(tenants(tenant_count))
    servers = draw(resource_servers())
    custom_scopes = [f"{s['identifier']}/{scope['name']}" for s in servers for scope in s["scopes"]]
    data: dict[str, Any] = {
        "stack_name": "MobileSso-Property",
        "stage": stage,
        "account": ACCOUNT,
        "region": draw(st.sampled_from(["eu-west-1", "us-east-1", "ap-southeast-2"])),
        "user_pool": {
            "name": draw(
                st.text(
                    st.one_of(st.characters(categories=["L", "Nd"]), st.sampled_from(" +=,.@-_")),
                    min_size=1,
                    max_size=128,
                ).filter(lambda s: s.strip())
            )
        },
        "entra": entra,
        "clients": draw(clients([t["idp_name"] for t in entra], custom_scopes, groups)),
        "tags": {
            key: spoil(draw, value, ",&!\t")
            for key, value in draw(st.dictionaries(tag_text, tag_text, max_size=3)).items()
        },
        "monitoring": {"enabled": draw(st.booleans())},
    }
    if servers:
        data["resource_servers"] = servers
    for tenant in entra:
        if tenant["idp_initiated"]:  # Entra's My Apps tile signs in to the first client
            tenant["idp_initiated_client"] = data["clients"][0]["name"]
    if draw(st.booleans()):
        data["domain"] = {"prefix": "sso-" + draw(st.text(lower_alnum, min_size=1, max_size=20))}
    else:
        custom: dict[str, Any] = {"domain_name": "auth.example.com", "certificate_arn": CERT}
        if draw(st.booleans()):
            custom.update(hosted_zone_id="Z123ABC", hosted_zone_name="example.com")
        data["domain"] = {"custom": custom}
    data["domain"]["managed_login_version"] = draw(st.sampled_from([1, 2]))
    if draw(st.booleans()):
        data["monitoring"]["alarm_topic_arn"] = f"arn:aws:sns:eu-west-1:{ACCOUNT}:alerts"
    if groups:
        data["groups"] = {
            "source": draw(st.sampled_from(["application_groups", "security_groups", "all"])),
            "add_to_cognito_groups": draw(st.booleans()),
            "names": draw(
                st.dictionaries(
                    st.sampled_from(GUIDS),
                    st.text(st.characters(exclude_categories=["C"]), min_size=1, max_size=256),
                    max_size=9,
                )
            ),
        }
    if draw(st.booleans()):
        data["identity_pool"] = {
            "statements": [{"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::b/*"]}],
            "role_rules": [
                {
                    "value": draw(free_text),
                    "role_arn": f"arn:aws:iam::{ACCOUNT}:role/r",
                }
            ]
            if draw(st.booleans())
            else [],
        }
    try:
        return parse_config(data, "property.yaml")
    except ConfigError:
        reject()


def lint_args(region: str) -> ManualArgs:
    # W3005: CDK's DependsOn that cfn-lint finds redundant (see tests/test_stack.py).
    return ManualArgs(regions=[region], ignore_checks=["W3005"])


def lint_errors(config: EnvironmentConfig) -> list[str]:
    template = Template.from_stack(build_stack(config)).to_json()
    return [
        f"{match.rule.id} {match.message} (line {match.linenumber})"
        # As `cdk synth` writes it: UTF-8, not \u escapes (cfn-lint's parser refuses
        # escaped surrogate pairs).
        for match in lint(json.dumps(template, ensure_ascii=False), config=lint_args(config.region))
        if match.rule.id.startswith("E")
    ]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(configs())
def test_every_valid_config_synthesizes_a_template_cfn_lint_finds_no_error_in(
    config: EnvironmentConfig,
) -> None:
    assert lint_errors(config) == []
