"""The automation app's credentials, read from Secrets Manager at run time.

The secret is JSON: {"tenantId", "clientId", and either "clientSecret" or "certificatePem"
(PEM holding the private key and the certificate)}. Secrets never travel as resource
properties: CloudFormation would keep them in the template.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from entra_saml_app.errors import ProvisioningError

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

    @property
    def secret_values(self) -> tuple[str | None, ...]:
        """What must never appear in a log line or a CloudFormation reason."""
        return (self.client_secret, self.certificate_pem)


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

    # botocore's DEBUG wire log prints the GetSecretValue answer verbatim: keep it quiet
    # even when someone turns the function's log level up to DEBUG.
    for name in ("botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).level))

    region = secret_arn.split(":")[3]
    client: SecretsClient = boto3.client("secretsmanager", region_name=region)
    return client
