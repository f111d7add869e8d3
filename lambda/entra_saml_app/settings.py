"""Run-time settings, read from the environment at each invocation (names listed in handler.py)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from entra_saml_app.errors import ProvisioningError

PUBLIC_AUTHORITY_HOSTS = frozenset(
    {"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn"}
)
NATIONAL_GRAPH_HOSTS = frozenset(
    {"graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"}
)
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
CLOUDS = ("global", "usgov", "usgov-dod", "china")
# addTokenSigningCertificate's national-cloud table lists the global service only:
# microsoftgraph/microsoft-graph-docs-contrib:api-reference/v1.0/api/serviceprincipal-addtokensigningcertificate.md  # noqa: E501
ADD_TOKEN_SIGNING_CERTIFICATE_CLOUDS = frozenset({"global"})


@dataclass(frozen=True)
class Settings:
    graph_endpoint: str = "https://graph.microsoft.com"
    login_authority: str = "https://login.microsoftonline.com"
    template_id: str = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"
    deadline_seconds: float = 600.0
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 30.0
    replication_seconds: float = 300.0
    http_timeout_seconds: float = 30.0
    ca_bundle: str | None = None
    cloud: str = "global"
    # A new federated identity credential can fail with AADSTS70021 for "several minutes"
    # (MicrosoftDocs/entra-docs:docs/workload-id/workload-identity-federation-considerations.md).
    federation_propagation_seconds: float = 300.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            graph_endpoint=_url(env, "ENTRA_GRAPH_ENDPOINT", defaults.graph_endpoint),
            login_authority=_url(env, "ENTRA_LOGIN_AUTHORITY", defaults.login_authority),
            template_id=env.get("ENTRA_NON_GALLERY_TEMPLATE_ID") or defaults.template_id,
            deadline_seconds=_seconds(env, "ENTRA_DEADLINE_SECONDS", defaults.deadline_seconds),
            retry_base_seconds=_seconds(
                env, "ENTRA_RETRY_BASE_SECONDS", defaults.retry_base_seconds
            ),
            retry_max_seconds=_seconds(env, "ENTRA_RETRY_MAX_SECONDS", defaults.retry_max_seconds),
            replication_seconds=_seconds(
                env, "ENTRA_REPLICATION_SECONDS", defaults.replication_seconds
            ),
            http_timeout_seconds=_seconds(
                env, "ENTRA_HTTP_TIMEOUT_SECONDS", defaults.http_timeout_seconds
            ),
            ca_bundle=env.get("REQUESTS_CA_BUNDLE") or env.get("SSL_CERT_FILE") or None,
            cloud=_cloud(env),
            federation_propagation_seconds=_seconds(
                env,
                "ENTRA_FEDERATION_PROPAGATION_SECONDS",
                defaults.federation_propagation_seconds,
            ),
        )

    @property
    def uploads_signing_certificates(self) -> bool:
        """Whether the handler makes the signing certificate itself (no
        addTokenSigningCertificate in this cloud) and uploads it."""
        return self.cloud not in ADD_TOKEN_SIGNING_CERTIFICATE_CLOUDS

    @property
    def graph_scope(self) -> str:
        """A national cloud's Graph is its own token audience; any other endpoint (a proxy,
        an emulator) stands in for the global one."""
        if urlparse(self.graph_endpoint).hostname in NATIONAL_GRAPH_HOSTS:
            return f"{self.graph_endpoint}/.default"
        return "https://graph.microsoft.com/.default"

    @property
    def public_authority(self) -> bool:
        return urlparse(self.login_authority).hostname in PUBLIC_AUTHORITY_HOSTS

    def tls_verify(self) -> ssl.SSLContext | bool:
        """What httpx should trust: the configured CA bundle, else its default roots."""
        return ssl.create_default_context(cafile=self.ca_bundle) if self.ca_bundle else True


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = (env.get(name) or default).rstrip("/")
    parsed = urlparse(value)
    plain_http_ok = parsed.scheme == "http" and parsed.hostname in _LOOPBACK
    if not parsed.hostname or (parsed.scheme != "https" and not plain_http_ok):
        raise ProvisioningError(f"Environment {name}={value!r} must be an https:// URL.")
    return value


def _cloud(env: Mapping[str, str]) -> str:
    value = env.get("ENTRA_CLOUD") or "global"
    if value not in CLOUDS:
        raise ProvisioningError(
            f"Environment ENTRA_CLOUD={value!r} must be one of {', '.join(CLOUDS)}."
        )
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name)
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise ProvisioningError(f"Environment {name}={value!r} must be a number of seconds >= 0.")
    return seconds
