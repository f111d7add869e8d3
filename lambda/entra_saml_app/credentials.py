"""The automation app's credentials: a Secrets Manager secret, or no stored secret at all.

The secret is JSON: {"tenantId", "clientId", and either "clientSecret" or "certificatePem"
(PEM holding the private key and the certificate)}. Secrets never travel as resource
properties: CloudFormation would keep them in the template.

Federated (secretless): the handler asks AWS STS for a web identity token
(`GetWebIdentityToken`, IAM outbound identity federation) and presents it to Entra as a
client assertion; Entra accepts it when the deployer app registration has a federated
identity credential naming the token's issuer, subject (the handler role's ARN) and audience.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode
from xml.etree import ElementTree

from entra_saml_app.errors import ProvisioningError
from entra_saml_app.logs import log

EXPECTED_SHAPE = (
    '{"tenantId": "<tenant GUID>", "clientId": "<app GUID>", '
    'and "clientSecret": "..." or "certificatePem": "<PEM with key and certificate>"}'
)


class SecretsClient(Protocol):
    def get_secret_value(self, *, SecretId: str) -> Any: ...


@dataclass(frozen=True)
class Credentials:
    tenant_id: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    certificate_pem: str | None = field(default=None, repr=False)
    assertion: WebIdentityAssertion | None = field(default=None, repr=False)

    @property
    def secret_values(self) -> tuple[str | None, ...]:
        """What must never appear in a log line or a CloudFormation reason."""
        return (self.client_secret, self.certificate_pem)

    def sign_in_advice(self, entra_message: str = "") -> str:
        """What to check when Entra refuses to issue a token for these credentials."""
        if self.assertion is not None:
            return self.assertion.advice(self.client_id, entra_message)
        return "check tenantId, clientId and the credential in the secret."


def read_credentials(secret_arn: str, client: SecretsClient | None = None) -> Credentials:
    client = client or _secrets_client(secret_arn)
    try:
        response = client.get_secret_value(SecretId=secret_arn)
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise ProvisioningError(
            f"Reading the credentials secret {secret_arn} failed ({code}): check that it exists "
            "and that the handler's role may call secretsmanager:GetSecretValue on it "
            "(and kms:Decrypt on its key)."
        ) from None
    return parse_credentials(response.get("SecretString"), secret_arn)


def parse_credentials(text: str | None, secret_arn: str) -> Credentials:
    try:
        data = json.loads(text or "")
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise _shape_error(secret_arn, "it is not a JSON object")
    tenant_id, client_id = data.get("tenantId"), data.get("clientId")
    secret, pem = data.get("clientSecret"), data.get("certificatePem")
    missing = [
        key for key, value in (("tenantId", tenant_id), ("clientId", client_id)) if not value
    ]
    if missing:
        raise _shape_error(secret_arn, f"{' and '.join(missing)} missing")
    if not (isinstance(secret, str) and secret) and not (isinstance(pem, str) and pem):
        raise _shape_error(secret_arn, "neither clientSecret nor certificatePem is set")
    return Credentials(
        tenant_id=str(tenant_id).lower(),
        client_id=str(client_id),
        client_secret=secret if isinstance(secret, str) and secret else None,
        certificate_pem=None if isinstance(secret, str) and secret else str(pem),
    )


def _shape_error(secret_arn: str, problem: str) -> ProvisioningError:
    return ProvisioningError(
        f"The credentials secret {secret_arn} is unusable: {problem}. Expected {EXPECTED_SHAPE}."
    )


def _secrets_client(secret_arn: str) -> SecretsClient:
    import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 (made per call, not at import)

    _quiet_botocore()

    region = secret_arn.split(":")[3]
    client: SecretsClient = boto3.client("secretsmanager", region_name=region)
    return client


# -- federated: an AWS STS web identity token as the client assertion -----------------------

SIGNING_ALGORITHM = "RS256"  # what Entra verifies federated assertions with
TOKEN_SECONDS = 300  # STS's default; the IAM policy allows no longer
_STS_NAMESPACE = "{https://sts.amazonaws.com/doc/2011-06-15/}"
# Entra's refusals that the federated credential's issuer, subject and audience do not
# explain: the token outside its time range; its signing key missing from the issuer's
# published keys, or a signature that does not verify.
_TIME_CODES = ("AADSTS700024",)
_SIGNATURE_CODES = ("AADSTS7000272", "AADSTS700027:")
# A federated credential not propagated yet (the colon keeps AADSTS700211.. out).
_PROPAGATION_CODES = ("AADSTS70021:",)
PROPAGATION_DOC = (
    "https://learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations"
    "#time-for-federated-credential-changes-to-propagate"
)

# Fetches a token for one audience: (audience) -> JWT.
TokenSource = Callable[[str], str]


class WebIdentityAssertion:
    """The `func` of azure-identity's ClientAssertionCredential: a fresh STS token per call.

    Remembers the (unverified, public) issuer and subject of the last token, so that a
    refusal by Entra can say exactly which federated credential the app registration needs.
    """

    def __init__(self, audience: str, fetch: TokenSource) -> None:
        self.audience = audience
        self._fetch = fetch
        self._lock = threading.Lock()
        self.issuer: str | None = None
        self.subject: str | None = None

    def __call__(self) -> str:
        token = self._fetch(self.audience)
        claims = _unverified_claims(token)
        with self._lock:
            self.issuer = _text(claims.get("iss"))
            self.subject = _text(claims.get("sub"))
        # The token's public claims, what Entra matches a federated credential against.
        log("web identity token", issuer=self.issuer, subject=self.subject, audience=self.audience)
        return token

    def advice(self, client_id: str, entra_message: str = "") -> str:
        issuer = self.issuer or "<the account's issuer URL>"
        subject = self.subject or "<the handler role ARN>"
        if any(code in entra_message for code in _PROPAGATION_CODES):
            return (
                f"Entra does not know a federated credential with issuer {issuer}, subject "
                f"{subject} and audience {self.audience} on app registration {client_id} yet. "
                "A new federated credential takes several minutes to propagate "
                f"({PROPAGATION_DOC}): if `mobile-sso bootstrap-entra` has just added it, "
                "wait a few minutes and retry the deployment; otherwise add it "
                "(Certificates & secrets > Federated credentials)."
            )
        if any(code in entra_message for code in _TIME_CODES):
            return (
                "Entra found the AWS web identity token outside its validity window (it lives "
                f"{TOKEN_SECONDS} seconds from its issue): retry the deployment."
            )
        if any(code in entra_message for code in _SIGNATURE_CODES):
            return (
                f"Entra could not verify the AWS web identity token with the keys published "
                f"by {issuer}: check that the federated credential on app registration "
                f"{client_id} names exactly this issuer (aws iam "
                "get-outbound-web-identity-federation-info)."
            )
        return (
            f"Entra did not accept the AWS web identity token: app registration {client_id} "
            f"needs a federated credential with issuer {issuer}, subject {subject} and "
            f"audience {self.audience} (Certificates & secrets > Federated credentials)."
        )


def federated_credentials(
    tenant_id: str, client_id: str, audience: str, fetch: TokenSource
) -> Credentials:
    return Credentials(
        tenant_id=tenant_id,
        client_id=client_id,
        assertion=WebIdentityAssertion(audience, fetch),
    )


def sts_web_identity_token(audience: str) -> str:
    """A web identity token from the regional STS endpoint of the function's region.

    The request is made and signed here with botocore's SigV4 signer rather than through
    `boto3.client("sts").get_web_identity_token`: the bundle uses the Lambda runtime's
    boto3, which may predate the operation (added November 2025), while the signer and the
    STS Query protocol are as old as botocore. `AWS_ENDPOINT_URL_STS` (the SDKs' standard
    variable) overrides the endpoint, as for a VPC endpoint; `AWS_CA_BUNDLE` names the CA
    bundle to trust, as for the SDKs.
    """
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped]  # noqa: PLC0415
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]  # noqa: PLC0415
    from botocore.httpsession import URLLib3Session  # type: ignore[import-untyped]  # noqa: PLC0415
    from botocore.session import get_session  # type: ignore[import-untyped]  # noqa: PLC0415

    _quiet_botocore()
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    if not region:
        raise ProvisioningError("AWS_REGION is not set: cannot choose the regional STS endpoint.")
    endpoint = os.environ.get("AWS_ENDPOINT_URL_STS") or _regional_sts(region)
    aws_credentials = get_session().get_credentials()
    if aws_credentials is None:
        raise ProvisioningError("The handler has no AWS credentials to call STS with.")
    body = urlencode(
        {
            "Action": "GetWebIdentityToken",
            "Version": "2011-06-15",
            "Audience.member.1": audience,
            "SigningAlgorithm": SIGNING_ALGORITHM,
            "DurationSeconds": str(TOKEN_SECONDS),
        }
    )
    request = AWSRequest(
        method="POST",
        url=endpoint.rstrip("/") + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(aws_credentials.get_frozen_credentials(), "sts", region).add_auth(request)
    try:
        # AWS_CA_BUNDLE: the SDKs' variable for a private CA (a TLS-inspecting proxy).
        verify = os.environ.get("AWS_CA_BUNDLE") or True
        response = URLLib3Session(verify=verify, timeout=30).send(request.prepare())
    except Exception as exc:
        raise ProvisioningError(
            f"Could not reach AWS STS at {endpoint} for GetWebIdentityToken "
            f"({type(exc).__name__}): check the function's network path to STS."
        ) from None
    return _token_from(response.status_code, response.content, audience)


def _token_from(status: int, content: bytes, audience: str) -> str:
    try:
        # The answer of STS itself (TLS, or a loopback emulator), not user input.
        root = ElementTree.fromstring(content)  # noqa: S314
    except ElementTree.ParseError:
        root = None
    if status == 200 and root is not None:
        token = root.findtext(
            f"{_STS_NAMESPACE}GetWebIdentityTokenResult/{_STS_NAMESPACE}WebIdentityToken"
        )
        if token:
            return token
    code = message = ""
    if root is not None:
        code = root.findtext(f"{_STS_NAMESPACE}Error/{_STS_NAMESPACE}Code") or ""
        message = root.findtext(f"{_STS_NAMESPACE}Error/{_STS_NAMESPACE}Message") or ""
    raise ProvisioningError(_sts_refusal(status, code or f"HTTP {status}", message, audience))


def _sts_refusal(status: int, code: str, message: str, audience: str) -> str:
    head = (
        f"AWS STS GetWebIdentityToken refused ({status} {code}: {' '.join(message.split())[:300]})"
    )
    if code == "OutboundWebIdentityFederationDisabledException":
        return (
            f"{head}. Outbound identity federation is off in this AWS account: enable it once "
            "with `aws iam enable-outbound-web-identity-federation` (or IAM > Account "
            "settings), then retry the deployment."
        )
    if code == "AccessDenied":
        return (
            f"{head}. The handler role may not request a token for audience {audience}: the "
            "stack grants sts:GetWebIdentityToken for the configured audience only; check "
            "that the deployed config names this audience and that no SCP or permissions "
            "boundary denies the action."
        )
    return f"{head}. Retry the deployment; if it persists, see the Lambda log."


def _regional_sts(region: str) -> str:
    # GetWebIdentityToken is not served by the global endpoint (sts.amazonaws.com).
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sts.{region}.{suffix}"


def _quiet_botocore() -> None:
    # botocore's DEBUG wire log prints request and response bodies verbatim (tokens,
    # secrets): keep it quiet even when someone turns the log level up to DEBUG.
    for name in ("botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).level))


def _unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified: only to name issuer and subject in advice."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
