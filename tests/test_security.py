"""Security properties (SECURITY.md): no secret or token in a synthesized template, an
output, the handler bundle or a handler log line, and least privilege for the roles of the
Entra custom resource."""

from __future__ import annotations

import json
import logging
import re
import secrets
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from entra_saml_app.credentials import read_credentials
from entra_saml_app.errors import ProvisioningError
from moto import mock_aws

from mobile_sso.config import EnvironmentConfig, load_config, parse_config
from sso_constructs.entra_bundle import ENTRA_HANDLER_BUNDLE
from sso_constructs.entra_saml_application import RESOURCE_TYPE
from tests.conftest import example_data, template_of
from tests.emulators import EntraEmulator, StsEmulator
from tests.emulators._authority import Authority
from tests.emulators._pki import make_client_certificate
from tests.lambda_handler.conftest import (
    REGION,
    TUNING,
    Event,
    Provider,
    Response,
    point_at,
    store_secret,
)

pytestmark = [
    # msgraph and kiota warn about their own deprecated classes when they are imported.
    pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:GetQueryParameters is deprecated:DeprecationWarning"),
]

Json = Any
Resources = dict[str, dict[str, Any]]

# A JSON Web Token (access tokens, client assertions): three base64url parts, header first.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----\s*[A-Za-z0-9+/=\s]{64,}-----END [A-Z ]*PRIVATE KEY-----"
)
# The shape of an Entra client secret (Microsoft Purview's "Microsoft Entra client secret"
# type): three characters, a digit, "Q~", then 34 more.
ENTRA_CLIENT_SECRET = re.compile(r"(?<![\w.~-])[\w.~-]{3}\dQ~[\w.~-]{34}(?![\w.~-])")
# Property names that would carry secret material, compared without case and punctuation.
CREDENTIAL_NAMES = frozenset(
    {
        "accesstoken",
        "apikey",
        "bearertoken",
        "certificatepem",
        "clientassertion",
        "clientsecret",
        "idtoken",
        "password",
        "pem",
        "privatekey",
        "refreshtoken",
        "secret",
        "secretstring",
        "secretvalue",
        "token",
    }
)
CLIENT_SECRET_LOOKUP = "Custom::DescribeCognitoUserPoolClient"
CLIENT_SECRET_ATTRIBUTE = "UserPoolClient.ClientSecret"
BASIC_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


# -- synthesized templates -------------------------------------------------------------------


def with_client_secrets() -> EnvironmentConfig:
    """The example with `generate_secret: true` on every client."""
    data = example_data()
    for client in data["clients"]:
        client["generate_secret"] = True
    return parse_config(data, "client-secrets.yaml")


def with_federation(data: dict[str, Any], *positions: int) -> dict[str, Any]:
    """The tenants at `positions` sign in with federated credentials instead of a secret."""
    for position in positions:
        tenant = data["entra"][position]
        del tenant["credentials_secret"]
        tenant["federation"] = {"client_id": "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e"}
    return data


def federated() -> EnvironmentConfig:
    return parse_config(with_federation(example_data(), 0), "federated.yaml")


def mixed() -> EnvironmentConfig:
    """Multitenant, the second tenant federated: one shared handler role for all three."""
    data = load_config("example-multitenant").model_dump(mode="json", exclude_none=True)
    return parse_config(with_federation(data, 1), "mixed.yaml")


CONFIGS: dict[str, Callable[[], EnvironmentConfig]] = {
    "example": lambda: load_config("example"),
    "example-multitenant": lambda: load_config("example-multitenant"),
    "client-secrets": with_client_secrets,
    "federated": federated,
    "mixed": mixed,
}


@cache
def config_named(name: str) -> EnvironmentConfig:
    return CONFIGS[name]()


@cache
def template_named(name: str) -> str:
    """The synthesized template as JSON text: each config is synthesized once, and every
    test parses its own copy."""
    return json.dumps(template_of(config_named(name)).to_json())


def template(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(template_named(name))
    return loaded


def resources(body: Mapping[str, Any], kind: str | None = None) -> Resources:
    found: Resources = body["Resources"]
    return {k: v for k, v in found.items() if kind is None or v["Type"] == kind}


def walk(node: Json, path: str = "") -> Iterator[tuple[str, Json]]:
    """Every (path, value) of a JSON document, containers included."""
    yield path, node
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}/{index}")


def keys_of(node: Json) -> Iterator[tuple[str, str, Json]]:
    """Every (path, key, value) of the mappings in a JSON document."""
    for path, value in walk(node):
        if isinstance(value, Mapping):
            for key, child in value.items():
                yield f"{path}/{key}", key, child


def normalized(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def is_client_secret_copy(body: Mapping[str, Any], kind: str, key: str, value: Json) -> bool:
    """The one sanctioned place of a client secret: a Secrets Manager secret whose value is
    read, at deploy time, from CDK's DescribeUserPoolClient lookup."""
    if kind != "AWS::SecretsManager::Secret" or key != "SecretString":
        return False
    match value:
        case {"Fn::GetAtt": [lookup, attribute]}:
            found = resources(body).get(lookup, {})
            return found.get("Type") == CLIENT_SECRET_LOOKUP and attribute == (
                CLIENT_SECRET_ATTRIBUTE
            )
    return False


@pytest.mark.parametrize("name", CONFIGS)
def test_no_property_or_output_is_named_like_a_credential(name: str) -> None:
    body = template(name)
    sections = {
        **{logical_id: r.get("Properties", {}) for logical_id, r in resources(body).items()},
        "Outputs": body.get("Outputs", {}),
        "Parameters": body.get("Parameters", {}),
    }
    assert resources(body)
    offending = []
    for section, content in sections.items():
        kind = resources(body).get(section, {}).get("Type", section)
        for path, key, value in keys_of(content):
            # A user pool client's TokenValidityUnits maps AccessToken etc. to a time unit.
            if path.endswith(f"/TokenValidityUnits/{key}"):
                continue
            if normalized(key) in CREDENTIAL_NAMES and not is_client_secret_copy(
                body, kind, key, value
            ):
                offending.append(f"{section}{path}")
    assert offending == []


@pytest.mark.parametrize("name", CONFIGS)
def test_no_string_in_the_template_looks_like_key_material_or_a_token(name: str) -> None:
    strings = [v for _, v in walk(template(name)) if isinstance(v, str)]

    assert strings  # the walk saw the template
    for pattern in (JWT, PEM_PRIVATE_KEY, ENTRA_CLIENT_SECRET, re.compile("-----BEGIN ")):
        assert [s for s in strings if pattern.search(s)] == [], pattern.pattern


def deployer_secret_arn(
    config: EnvironmentConfig, reference: str, *, in_policy: bool = False
) -> str:
    """The ARN of the deployer secret a config names (or gives the ARN of). A name becomes a
    partial ARN; in an IAM policy it ends in "-??????", the suffix Secrets Manager appends."""
    if reference.startswith("arn:"):
        return reference
    partial = f"arn:aws:secretsmanager:{config.region}:{config.account}:secret:{reference}"
    return f"{partial}-??????" if in_policy else partial


@pytest.mark.parametrize("name", CONFIGS)
def test_entra_custom_resources_get_the_secret_arn_never_its_value(name: str) -> None:
    config = config_named(name)
    apps = resources(template(name), RESOURCE_TYPE)
    expected = {
        deployer_secret_arn(config, t.credentials_secret)
        for t in config.entra
        if t.credentials_secret
    }

    arns = {
        app["Properties"]["CredentialsSecretArn"]
        for app in apps.values()
        if "FederatedClientId" not in app["Properties"]
    }

    assert len(apps) == len(config.entra)
    assert arns == expected


@pytest.mark.parametrize("name", CONFIGS)
def test_no_custom_resource_takes_a_dynamic_secret_reference(name: str) -> None:
    # CloudFormation resolves {{resolve:secretsmanager:...}} only in native resources; in a
    # custom resource's properties the reference would travel, and be stored, as written.
    custom = {
        k: r for k, r in resources(template(name)).items() if r["Type"].startswith("Custom::")
    }

    assert custom
    for logical_id, resource in custom.items():
        assert "{{resolve:" not in json.dumps(resource.get("Properties", {})), logical_id


def test_handler_environment_holds_endpoints_and_tuning_only() -> None:
    # Anyone allowed lambda:GetFunctionConfiguration reads these: URLs, ids, numbers and the
    # cloud's name only.
    functions = resources(template("example"), "AWS::Lambda::Function")
    handlers = [f for f in functions.values() if handler_kind(f) == "handler"]
    plain = re.compile(
        r"https://[\w.-]+|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}|\d+(\.\d+)?"
        r"|global|usgov|usgov-dod|china"
    )

    assert len(handlers) == 2  # onEvent and isComplete
    for function in handlers:
        variables = function["Properties"]["Environment"]["Variables"]
        assert "ENTRA_GRAPH_ENDPOINT" in variables
        for variable, value in variables.items():
            assert not re.search(r"SECRET|PASSWORD|TOKEN|KEY|PEM|CREDENTIAL", variable), variable
            assert isinstance(value, str), variable
            assert plain.fullmatch(value), variable


# -- outputs ---------------------------------------------------------------------------------


def test_client_secret_outputs_are_secrets_manager_arns() -> None:
    body = template("client-secrets")
    secret_outputs = {k: v for k, v in body["Outputs"].items() if k.endswith("SecretArn")}

    assert len(secret_outputs) == len(config_named("client-secrets").clients)
    for output in secret_outputs.values():
        match output["Value"]:
            case {"Ref": logical_id}:
                assert resources(body)[logical_id]["Type"] == "AWS::SecretsManager::Secret"
            case other:
                pytest.fail(f"a secret output must be the secret's ARN (a Ref), got {other}")


@pytest.mark.parametrize("name", CONFIGS)
def test_no_output_reads_the_generated_client_secret(name: str) -> None:
    body = template(name)
    lookups = set(resources(body, CLIENT_SECRET_LOOKUP))

    assert body.get("Outputs")
    for key, output in body["Outputs"].items():
        text = json.dumps(output["Value"])
        assert CLIENT_SECRET_ATTRIBUTE not in text, key
        assert not any(lookup in text for lookup in lookups), key


def test_generated_client_secret_reaches_only_its_secrets_manager_secret() -> None:
    body = template("client-secrets")
    lookups = resources(body, CLIENT_SECRET_LOOKUP)
    readers = [
        f"{logical_id}{path}"
        for logical_id, resource in resources(body).items()
        for path, value in walk(resource.get("Properties", {}))
        if isinstance(value, Mapping)
        and isinstance(value.get("Fn::GetAtt"), list)
        and value["Fn::GetAtt"][0] in lookups
    ]

    assert len(lookups) == len(config_named("client-secrets").clients)
    assert readers
    assert all(re.fullmatch(r"\w+/SecretString", reader) for reader in readers), readers
    for lookup in lookups.values():
        # CDK's AwsCustomResource would otherwise log the DescribeUserPoolClient answer.
        assert '\\"logApiResponseData\\":false' in json.dumps(lookup["Properties"]["Create"])


# -- IAM: least privilege ---------------------------------------------------------------------


def as_list(value: Json) -> list[Json]:
    return value if isinstance(value, list) else [value]


def statements_by_role(body: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every inline and customer-managed policy statement, by the role it is attached to."""
    found: dict[str, list[dict[str, Any]]] = {}
    for logical_id, resource in resources(body).items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for role in props.get("Roles", []):
                # A role of this stack is a Ref; an imported one, its name.
                name = role["Ref"] if isinstance(role, Mapping) and "Ref" in role else str(role)
                found.setdefault(name, []).extend(props["PolicyDocument"]["Statement"])
        elif resource["Type"] == "AWS::IAM::Role":
            role_statements = found.setdefault(logical_id, [])
            for policy in props.get("Policies", []):
                role_statements.extend(policy["PolicyDocument"]["Statement"])
    return found


def all_statements(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    roleless = [
        statement
        for resource in resources(body).values()
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        and not resource["Properties"].get("Roles")
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]
    return [s for ss in statements_by_role(body).values() for s in ss] + roleless


def handler_kind(function: Mapping[str, Any]) -> str | None:
    """Which part of the Entra provider a Lambda function is, if any."""
    entry: str = function["Properties"].get("Handler", "")
    if entry.startswith("entra_saml_app.handler."):
        return "handler"
    variables = function["Properties"].get("Environment", {}).get("Variables", {})
    if entry.startswith("framework.") and "USER_ON_EVENT_FUNCTION_ARN" in variables:
        return entry  # framework.onEvent, framework.isComplete, framework.onTimeout
    return None


def provider_role_kinds(body: Mapping[str, Any]) -> dict[str, str]:
    """The roles of the Entra custom resource's provider, each with what it runs."""
    kinds: dict[str, str] = {}
    for function in resources(body, "AWS::Lambda::Function").values():
        kind = handler_kind(function)
        if kind is not None:
            kinds[function["Properties"]["Role"]["Fn::GetAtt"][0]] = kind
    for logical_id, machine in resources(body, "AWS::StepFunctions::StateMachine").items():
        if logical_id.startswith("EntraSamlAppProvider"):
            kinds[machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]] = "waiter"
    return kinds


def managed_policy_arns(role: Mapping[str, Any]) -> set[str]:
    arns = set()
    for arn in role["Properties"].get("ManagedPolicyArns", []):
        match arn:
            case {"Fn::Join": ["", parts]}:
                arns.add("".join("aws" if p == {"Ref": "AWS::Partition"} else p for p in parts))
            case str():
                arns.add(arn)
    return arns


# The AWS managed policy every Lambda role of the provider gets (CDK's default), for the
# function's own CloudWatch logs: logs:CreateLogGroup, CreateLogStream and PutLogEvents.
# Acknowledged for cdk-nag (AwsSolutions-IAM4) in entra_saml_application.py.
BASIC_EXECUTION = frozenset({BASIC_EXECUTION_POLICY})
# The handler functions read the deployer credential: GetSecretValue for the value,
# DescribeSecret because CDK's Secret.grantRead adds it (metadata only, no value).
SECRET_READ = frozenset({"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"})
# With federation the (one, shared) handler role asks STS for its web identity token.
FEDERATION = frozenset({"sts:GetWebIdentityToken"})
# What each role of the provider may do, and why:
ALLOWED_ACTIONS = {
    "handler": SECRET_READ,
    # CDK's Provider framework: invoke the handler functions, check that they are active
    # before invoking them (GetFunction), and start the isComplete waiter (onEvent only).
    "framework.onEvent": {"lambda:InvokeFunction", "lambda:GetFunction", "states:StartExecution"},
    "framework.isComplete": {"lambda:InvokeFunction", "lambda:GetFunction"},
    "framework.onTimeout": {"lambda:InvokeFunction", "lambda:GetFunction"},
    # The waiter state machine invokes the framework's isComplete and onTimeout functions.
    "waiter": {"lambda:InvokeFunction"},
}
FRAMEWORK_ROLES = ["framework.onEvent", "framework.isComplete", "framework.onTimeout", "waiter"]
# One provider per stack (and cloud), shared by every tenant's application: a role for each
# of onEvent and isComplete, or (a tenant federated) one with a fixed name for both.
PROVIDER_ROLES = {
    "example": sorted(["handler", "handler", *FRAMEWORK_ROLES]),
    "example-multitenant": sorted(["handler", "handler", *FRAMEWORK_ROLES]),
    "federated": sorted(["handler", *FRAMEWORK_ROLES]),
    "mixed": sorted(["handler", *FRAMEWORK_ROLES]),
}
HANDLER_ACTIONS = {
    "example": SECRET_READ,
    "example-multitenant": SECRET_READ,
    "federated": FEDERATION,
    "mixed": SECRET_READ | FEDERATION,
}
IAM_CONFIGS = list(PROVIDER_ROLES)


@pytest.mark.parametrize("name", IAM_CONFIGS)
def test_entra_provider_roles_hold_only_the_justified_actions(name: str) -> None:
    body = template(name)
    kinds = provider_role_kinds(body)
    statements = statements_by_role(body)
    allowed = {**ALLOWED_ACTIONS, "handler": HANDLER_ACTIONS[name]}

    assert sorted(kinds.values()) == PROVIDER_ROLES[name]
    for role, kind in kinds.items():
        actions = {a for s in statements.get(role, []) for a in as_list(s["Action"])}
        assert all(s["Effect"] == "Allow" for s in statements.get(role, []))
        assert actions == allowed[kind], (role, kind)
        managed = managed_policy_arns(resources(body)[role])
        assert managed == (set() if kind == "waiter" else BASIC_EXECUTION), (role, managed)


@pytest.mark.parametrize("name", IAM_CONFIGS)
def test_entra_provider_roles_trust_only_lambda_or_step_functions(name: str) -> None:
    body = template(name)
    kinds = provider_role_kinds(body)

    assert kinds
    for role, kind in kinds.items():
        trust = resources(body)[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        service = "states.amazonaws.com" if kind == "waiter" else "lambda.amazonaws.com"
        assert trust == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": service}}
        ]


@pytest.mark.parametrize("name", IAM_CONFIGS)
def test_entra_provider_policies_name_their_resources(name: str) -> None:
    # The only wildcards: the 6-character suffix Secrets Manager adds to a secret's name
    # ("-??????"), and ":*" after a function ARN, which CDK's Provider framework grants so
    # it may invoke any version of that one function (acknowledged as AwsSolutions-IAM5).
    body = template(name)
    kinds = provider_role_kinds(body)
    functions = set(resources(body, "AWS::Lambda::Function"))
    machines = set(resources(body, "AWS::StepFunctions::StateMachine"))
    statements = statements_by_role(body)

    assert kinds
    for role in kinds:
        for statement in statements.get(role, []):
            for resource in as_list(statement["Resource"]):
                match resource:
                    case "*":  # GetWebIdentityToken has no resource: conditions narrow it
                        assert as_list(statement["Action"]) == ["sts:GetWebIdentityToken"]
                        assert statement["Condition"]["ForAllValues:StringEquals"]
                        assert statement["Condition"]["Null"]
                    case str() if resource.startswith("arn:aws:secretsmanager:"):
                        assert "*" not in resource
                    case {"Fn::GetAtt": [function, "Arn"]}:
                        assert function in functions
                    case {"Fn::Join": ["", [{"Fn::GetAtt": [function, "Arn"]}, ":*"]]}:
                        assert function in functions
                    case {"Ref": machine}:
                        assert machine in machines
                    case other:
                        pytest.fail(f"{role}: unexpected resource {other!r}")


@pytest.mark.parametrize("name", CONFIGS)
def test_secrets_manager_grants_name_only_the_configured_credentials(name: str) -> None:
    config = config_named(name)
    allowed = {
        deployer_secret_arn(config, t.credentials_secret, in_policy=True)
        for t in config.entra
        if t.credentials_secret
    }
    granting = [
        s
        for s in all_statements(template(name))
        if any(a == "*" or a.lower().startswith("secretsmanager:") for a in as_list(s["Action"]))
    ]

    # The onEvent and isComplete handlers' roles, or their one shared role, or none at all.
    assert len(granting) == {"federated": 0, "mixed": 1}.get(name, 2)
    for statement in granting:
        assert set(as_list(statement["Action"])) <= {
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret",
        }
        assert set(as_list(statement["Resource"])) == allowed


# -- the handler bundle ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle() -> Path:
    return ENTRA_HANDLER_BUNDLE.cached_build()


def bundle_files(bundle: Path) -> list[Path]:
    return [p.relative_to(bundle) for p in bundle.rglob("*") if p.is_file()]


# certifi's public CA roots are the one certificate file the bundle needs (TLS to Graph).
PUBLIC_CERTIFICATES = {Path("certifi/cacert.pem")}
CREDENTIAL_FILE = re.compile(
    r"(^\.env(\..*)?$|\.(pem|key|p12|pfx|jks|keystore|crt|cer|der|tfvars)$|^id_(rsa|ecdsa|ed25519)"
    r"|^credentials(\.json)?$|^\.(netrc|pypirc|npmrc)$)",
    re.IGNORECASE,
)


def test_handler_bundle_holds_no_credential_files(bundle: Path) -> None:
    files = bundle_files(bundle)

    suspicious = [f for f in files if CREDENTIAL_FILE.search(f.name)]

    assert len(files) > 100  # the dependencies are there
    assert set(suspicious) <= PUBLIC_CERTIFICATES


def test_handler_bundle_holds_no_private_key(bundle: Path) -> None:
    holding = []
    for relative in bundle_files(bundle):
        text = (bundle / relative).read_bytes().decode("latin-1")
        if PEM_PRIVATE_KEY.search(text):
            holding.append(relative)

    assert holding == []


def test_handler_package_in_the_bundle_is_its_source_only(bundle: Path) -> None:
    source = ENTRA_HANDLER_BUNDLE.source
    shipped = {
        f.relative_to(source.name)
        for f in bundle_files(bundle)
        if f.parts[0] == source.name and "__pycache__" not in f.parts
    }

    assert shipped == {f.relative_to(source) for f in ENTRA_HANDLER_BUNDLE.source_files()}
    assert not {"tests", "emulators", "conftest.py"} & {f.parts[0] for f in bundle_files(bundle)}


# -- handler logs and failure reasons ----------------------------------------------------------


@pytest.fixture
def entra(monkeypatch: pytest.MonkeyPatch) -> Iterator[EntraEmulator]:
    """The Entra emulator, the credentials secret store (moto) and the handler's settings."""
    for variable, value in TUNING.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws(), EntraEmulator() as running:
        point_at(monkeypatch, running)
        yield running


@pytest.fixture
def issued_tokens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every access token the emulator's token endpoint issues during the test."""
    tokens: list[str] = []
    issue = Authority.issue_token

    def recording(self: Authority, **claims: Any) -> str:
        token = issue(self, **claims)
        tokens.append(token)
        return token

    monkeypatch.setattr(Authority, "issue_token", recording)
    return tokens


@pytest.fixture
def stack(entra: EntraEmulator) -> Provider:
    """The Provider framework, for a resource assigning one user and one group."""
    return Provider(
        {
            "TenantId": entra.tenant_id,
            "SecretArn": store_secret(entra),
            "UserId": entra.add_user("Ada Lovelace"),
            "GroupId": entra.add_group("Mobile testers"),
        }
    )


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG, as with the function's log level turned all the way up."""
    caplog.set_level(logging.DEBUG)
    return caplog


def texts_of(record: logging.LogRecord) -> list[str]:
    texts = [record.getMessage(), str(record.msg), repr(record.args), record.exc_text or ""]
    if record.exc_info and record.exc_info[1] is not None:
        texts.append("".join(traceback.format_exception(record.exc_info[1])))
    return texts


def sensitive(
    client_secret: str | None, tokens: Iterable[str], pem: str | None = None
) -> dict[str, str]:
    """What must never be written anywhere, by a name that is safe to print."""
    found = {"client secret": client_secret} if client_secret else {}
    for index, token in enumerate(tokens):
        found[f"access token {index}"] = token
        found[f"signature of access token {index}"] = token.rsplit(".", 1)[1]
    if pem:
        found["private key PEM"] = pem
        for index, line in enumerate(pem.splitlines()):
            if len(line) >= 32 and not line.startswith("-----"):
                found[f"private key PEM line {index}"] = line
    return found


def leaks_in(texts: Iterable[str], secret_values: Mapping[str, str]) -> list[str]:
    found = []
    for text in texts:
        found += [name for name, value in secret_values.items() if value in text]
        found += ["a JWT" for _ in JWT.finditer(text)]
    return found


def log_leaks(caplog: pytest.LogCaptureFixture, secret_values: Mapping[str, str]) -> list[str]:
    return [
        f"{record.name}: {leak}"
        for record in caplog.records
        for leak in leaks_in(texts_of(record), secret_values)
    ]


def failure_leaks(failure: BaseException, secret_values: Mapping[str, str]) -> list[str]:
    """Leaks in the reason CloudFormation shows, and in every exception chained to it."""
    chain = "".join(traceback.format_exception(failure))
    return leaks_in([str(failure), chain], secret_values)


def handler_events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        json.loads(r.getMessage())["event"] for r in caplog.records if r.name == "entra_saml_app"
    ]


def run_lifecycle(stack: Provider, event: Event) -> Response:
    """Create (onEvent, isComplete until done), an update, then Delete."""
    created = stack.deploy(event)
    physical_id = created["PhysicalResourceId"]
    changed = stack.update_event(
        event,
        physical_id,
        DisplayName="Mobile SSO (renamed)",
        Assignments=[{"PrincipalId": stack.values["GroupId"], "PrincipalType": "Group"}],
    )
    stack.deploy(changed)
    return stack.on_event(stack.delete_event(changed, physical_id))


def test_client_secret_lifecycle_logs_no_secret_and_no_token(
    entra: EntraEmulator,
    stack: Provider,
    issued_tokens: list[str],
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    run_lifecycle(stack, stack.create_event())

    events = handler_events(debug_logs)
    assert {"instantiate", "certificate activated", "unassign", "delete"} <= set(events)
    assert any(r.levelno == logging.DEBUG for r in debug_logs.records)
    assert issued_tokens
    assert log_leaks(debug_logs, sensitive(entra.client_secret, issued_tokens)) == []


def test_certificate_lifecycle_logs_no_private_key_and_no_assertion(
    entra: EntraEmulator,
    stack: Provider,
    issued_tokens: list[str],
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    certificate = make_client_certificate()
    entra.register_certificate(certificate.cert_pem)
    pem = (certificate.key_pem + certificate.cert_pem).decode()
    arn = store_secret(entra, "entra-deployer-certificate", certificatePem=pem)

    run_lifecycle(stack, stack.create_event(CredentialsSecretArn=arn))

    assert "delete" in handler_events(debug_logs)
    assert issued_tokens
    secret_values = sensitive(None, issued_tokens, certificate.key_pem.decode())
    assert log_leaks(debug_logs, secret_values) == []


def test_missing_consent_failure_leaks_no_secret_and_no_token(
    entra: EntraEmulator,
    stack: Provider,
    issued_tokens: list[str],
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    entra.set_roles(["Application.ReadWrite.All"])  # no AppRoleAssignment.ReadWrite.All

    with pytest.raises(ProvisioningError) as failure:
        stack.on_event(stack.create_event())

    assert "403" in str(failure.value)
    secret_values = sensitive(entra.client_secret, issued_tokens)
    assert issued_tokens
    assert failure_leaks(failure.value, secret_values) == []
    assert log_leaks(debug_logs, secret_values) == []


def test_wrong_client_secret_failure_leaks_neither_secret(
    entra: EntraEmulator,
    stack: Provider,
    issued_tokens: list[str],
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    wrong = "wrong~" + secrets.token_urlsafe(30)
    arn = store_secret(entra, "entra-deployer-wrong", clientSecret=wrong)

    with pytest.raises(ProvisioningError) as failure:
        stack.on_event(stack.create_event(CredentialsSecretArn=arn))

    assert "TokenRequestFailed" in str(failure.value)
    assert issued_tokens == []
    secret_values = {**sensitive(entra.client_secret, []), "wrong client secret": wrong}
    assert failure_leaks(failure.value, secret_values) == []
    assert log_leaks(debug_logs, secret_values) == []


def test_reading_the_credentials_at_debug_logs_no_secret(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    client_secret = "canary~" + secrets.token_urlsafe(30)
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="entra-deployer",
            SecretString=json.dumps(
                {"tenantId": "t", "clientId": "c", "clientSecret": client_secret}
            ),
        )["ARN"]
        caplog.set_level(logging.DEBUG)  # every logger, botocore's included

        credentials = read_credentials(arn)

    assert credentials.client_secret == client_secret
    assert log_leaks(caplog, {"client secret": client_secret}) == []


@pytest.fixture
def sts(monkeypatch: pytest.MonkeyPatch) -> Iterator[StsEmulator]:
    """STS for the handler's federated sign-in, with the function role's credentials."""
    with StsEmulator(region=REGION) as running:
        for name, value in running.lambda_environment().items():
            monkeypatch.setenv(name, value)
        yield running


def federated_event(stack: Provider, entra: EntraEmulator) -> Event:
    event = stack.create_event()
    del event["ResourceProperties"]["CredentialsSecretArn"]
    event["ResourceProperties"]["FederatedClientId"] = entra.client_id
    return event


def test_federated_lifecycle_logs_no_web_identity_token_and_no_access_token(
    entra: EntraEmulator,
    sts: StsEmulator,
    stack: Provider,
    issued_tokens: list[str],
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    entra.add_federated_credential(issuer=sts.issuer, subject=sts.role_arn)

    run_lifecycle(stack, federated_event(stack, entra))

    assert "delete" in handler_events(debug_logs)
    assert sts.issued
    assert issued_tokens
    secret_values = sensitive(None, [*sts.issued, *issued_tokens])
    assert log_leaks(debug_logs, secret_values) == []


def test_refused_web_identity_token_leaks_nowhere(
    entra: EntraEmulator,
    sts: StsEmulator,
    stack: Provider,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    entra.add_federated_credential(issuer=sts.issuer, subject="arn:aws:iam::1:role/other")

    with pytest.raises(ProvisioningError) as failure:
        stack.on_event(federated_event(stack, entra))

    assert "AADSTS700213" in str(failure.value)
    assert sts.issued
    secret_values = sensitive(None, sts.issued)
    assert failure_leaks(failure.value, secret_values) == []
    assert log_leaks(debug_logs, secret_values) == []
