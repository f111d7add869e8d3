"""CloudFormation custom resource: a Microsoft Entra ID non-gallery SAML application.

Entry points for `aws_cdk.custom_resources.Provider`: `on_event` and `is_complete`. This
module speaks the protocol only: it parses the event into `model.Request`, hands the work
to `service.SamlAppService`, and answers `{"PhysicalResourceId", "Data"}`, or raises an
exception whose message is the short, actionable reason CloudFormation shows.

Two resource types arrive here, told apart by the event's ResourceType:

- `Custom::EntraSamlApplication` (and any other type, as earlier versions deployed it): the
  application. The physical id is the application's object id. `Data` (once complete):
  ApplicationObjectId, AppId, ServicePrincipalId, MetadataUrl, SigningCertificateThumbprint,
  SigningCertificateExpiry.
- `Custom::EntraSamlRelayState`: the relay state Entra sends with IdP-initiated sign-in,
  written to the service principal's samlSingleSignOnSettings.relayState (Delete clears it).
  Properties TenantId, ServicePrincipalId, RelayState, and the credential properties
  (below). The physical id
  is `<ServicePrincipalId>/relay-state`; `Data`: ServicePrincipalId, RelayState. Complete at
  once: isComplete answers IsComplete without calling anything.

Both types authenticate to Entra with exactly one of: `CredentialsSecretArn` (a Secrets
Manager secret, see credentials.py), or `FederatedClientId` with an optional
`FederationAudience` (default api://AzureADTokenExchange): no stored secret, an AWS STS web
identity token is the client assertion.

Environment, read at every invocation:

- `ENTRA_GRAPH_ENDPOINT`: Microsoft Graph root (default https://graph.microsoft.com).
- `ENTRA_LOGIN_AUTHORITY`: token authority, also the metadata URL's host
  (default https://login.microsoftonline.com).
- `ENTRA_NON_GALLERY_TEMPLATE_ID`: the cloud's non-gallery application template
  (default 8adf8e6e-67b2-4cf2-a259-e3dc5476c621, the global cloud's).
- `ENTRA_DEADLINE_SECONDS`: how long onEvent keeps retrying Graph (default 600; never past
  the Lambda's remaining time less 30 s, so a failure is reported rather than timed out).
- `ENTRA_RETRY_BASE_SECONDS`, `ENTRA_RETRY_MAX_SECONDS`: backoff, doubling from the base
  (default 1) up to the cap (default 30); a Retry-After header wins.
- `ENTRA_REPLICATION_SECONDS`: for how long after its creation an object's 404 or 400 is
  taken for replication lag and retried (default 300).
- `ENTRA_HTTP_TIMEOUT_SECONDS`: per HTTP request (default 30).
- `ENTRA_CLOUD`: global (default), usgov, usgov-dod or china. Outside the global service,
  where Graph has no addTokenSigningCertificate, the handler makes the SAML signing
  certificate itself and uploads it (certificates.py).
- `ENTRA_FEDERATION_PROPAGATION_SECONDS`: for how long a token request refused with
  AADSTS70021 (a new federated credential not propagated yet) is retried (default 300).
- `REQUESTS_CA_BUNDLE` or `SSL_CERT_FILE`: trust roots for HTTPS, when not the public ones.
- `AWS_REGION` (set by Lambda): with federated credentials, STS is asked in this region;
  `AWS_ENDPOINT_URL_STS` overrides the endpoint (a VPC endpoint, an emulator).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from entra_saml_app.credentials import (
    Credentials,
    TokenSource,
    federated_credentials,
    read_credentials,
    sts_web_identity_token,
)
from entra_saml_app.errors import ProvisioningError, StepFailed, redact
from entra_saml_app.logs import log, logger
from entra_saml_app.metadata import HttpsMetadataSource, metadata_url
from entra_saml_app.model import (
    RELAY_STATE_RESOURCE_TYPE,
    AppProperties,
    RelayStateProperties,
    RelayStateRequest,
    Request,
    is_guid,
    relay_state_target,
)
from entra_saml_app.retry import Retrier
from entra_saml_app.service import (
    GraphPort,
    MetadataSource,
    Provisioned,
    RelayStateService,
    SamlAppService,
    metadata_serves,
)
from entra_saml_app.settings import Settings

Response = dict[str, Any]
SAFETY_MARGIN_SECONDS = 30.0
EXPIRY_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Runtime:
    """What an invocation talks to; tests swap parts of it."""

    settings: Settings
    read_credentials: Callable[[str], Credentials]
    open_graph: Callable[[Settings, Credentials], AbstractAsyncContextManager[GraphPort]]
    metadata: Callable[[Settings], MetadataSource]
    web_identity_token: TokenSource = sts_web_identity_token

    @classmethod
    def from_env(cls) -> Runtime:
        from entra_saml_app.graph import open_graph  # noqa: PLC0415 (the SDK loads on use)

        return cls(Settings.from_env(), read_credentials, open_graph, _https_metadata)


def on_event(event: Mapping[str, Any], context: Any) -> Response:
    return handle_event(event, context, Runtime.from_env())


def is_complete(event: Mapping[str, Any], context: Any) -> Response:
    return handle_is_complete(event, context, Runtime.from_env())


def handle_event(event: Mapping[str, Any], context: Any, runtime: Runtime) -> Response:
    logger.setLevel(logging.INFO)
    if event.get("ResourceType") == RELAY_STATE_RESOURCE_TYPE:
        return _relay_state_event(event, context, runtime)
    request = Request.parse(event)
    _log_request("onEvent", request)
    props = request.properties
    if request.request_type == "Delete" and props.retain_on_delete:
        log("delete skipped", reason="RetainOnDelete", physical_id=request.physical_id)
        return {"PhysicalResourceId": request.physical_id}
    if request.request_type == "Delete" and not is_guid(request.physical_id):
        log("delete skipped", reason="no application was created", physical_id=request.physical_id)
        return {"PhysicalResourceId": request.physical_id}
    return asyncio.run(_on_event(request, _deadline(runtime.settings, context), runtime))


def handle_is_complete(event: Mapping[str, Any], context: Any, runtime: Runtime) -> Response:
    logger.setLevel(logging.INFO)
    if event.get("ResourceType") == RELAY_STATE_RESOURCE_TYPE:
        return {"IsComplete": True}  # onEvent finished the work; nothing replicates to wait for
    request = Request.parse(event)
    _log_request("isComplete", request)
    if request.request_type == "Delete":
        return {"IsComplete": True}
    if not is_guid(request.physical_id):
        raise ProvisioningError(f"isComplete got no application id ({request.physical_id!r}).")
    answered = _answered(event.get("Data"), str(request.physical_id))
    deadline = _deadline(runtime.settings, context)
    provisioned = asyncio.run(_readiness(request, answered, deadline, runtime))
    if provisioned is None:
        return {"IsComplete": False}
    return {"IsComplete": True, "Data": _data(provisioned)}


async def _on_event(request: Request, deadline: float, runtime: Runtime) -> Response:
    props = request.properties
    credentials = _credentials(props, runtime)
    with _reasons(props.tenant_id, credentials):
        async with runtime.open_graph(runtime.settings, credentials) as graph:
            service = _service(graph, runtime, deadline)
            if request.request_type == "Delete":
                await service.delete(request.physical_id)
                return {"PhysicalResourceId": request.physical_id}
            if request.request_type == "Create":
                provisioned = await service.create(request.owner, props)
            else:
                provisioned = await service.update(
                    request.owner,
                    request.physical_id,
                    props,
                    request.old_properties,
                    request.old_tenant_id,
                )
    return {"PhysicalResourceId": provisioned.application_object_id, "Data": _data(provisioned)}


async def _readiness(
    request: Request, answered: Provisioned | None, deadline: float, runtime: Runtime
) -> Provisioned | None:
    """None until the app is ready. With onEvent's Data at hand, a poll that finds the
    metadata not ready yet is that one fetch: no secret read, no token, no Graph call."""
    props = request.properties
    if answered is not None:
        url = metadata_url(runtime.settings.login_authority, props.tenant_id, answered.app_id)
        answered = replace(answered, metadata_url=url)
        with _reasons(props.tenant_id, None):
            source = runtime.metadata(runtime.settings)
            if not await metadata_serves(source, url, answered.signing_thumbprint):
                return None
    credentials = _credentials(props, runtime)
    with _reasons(props.tenant_id, credentials):
        async with runtime.open_graph(runtime.settings, credentials) as graph:
            service = _service(graph, runtime, deadline)
            if answered is None:
                return await service.readiness(request.owner, str(request.physical_id), props)
            return await service.confirm(request.owner, answered)


def _answered(data: object, physical_id: str) -> Provisioned | None:
    """onEvent's Data, which the Provider hands to every isComplete poll; None when a field
    is missing or malformed (an event from an earlier version, read back from Graph)."""
    if not isinstance(data, Mapping):
        return None
    try:
        answered = Provisioned(
            application_object_id=str(data["ApplicationObjectId"]),
            app_id=str(data["AppId"]),
            service_principal_id=str(data["ServicePrincipalId"]),
            metadata_url=str(data["MetadataUrl"]),
            signing_thumbprint=str(data["SigningCertificateThumbprint"]),
            signing_expiry=datetime.strptime(
                str(data["SigningCertificateExpiry"]), EXPIRY_FORMAT
            ).replace(tzinfo=UTC),
        )
    except (KeyError, ValueError):
        return None
    ids = (answered.app_id, answered.service_principal_id)
    if answered.application_object_id != physical_id or not all(map(is_guid, ids)):
        return None
    return answered


def _relay_state_event(event: Mapping[str, Any], context: Any, runtime: Runtime) -> Response:
    if (
        event.get("RequestType") == "Delete"
        and relay_state_target(event.get("PhysicalResourceId")) is None
    ):
        # The Provider framework's marker for a failed Create: nothing was written.
        physical_id = event.get("PhysicalResourceId")
        log("delete skipped", reason="no relay state was set", physical_id=physical_id)
        return {"PhysicalResourceId": physical_id}
    request = RelayStateRequest.parse(event)
    log(
        "onEvent",
        resource="relay state",
        request_type=request.request_type,
        logical_id=request.logical_id,
        physical_id=request.physical_id,
        tenant=request.properties.tenant_id,
    )
    return asyncio.run(_on_relay_state(request, _deadline(runtime.settings, context), runtime))


async def _on_relay_state(
    request: RelayStateRequest, deadline: float, runtime: Runtime
) -> Response:
    props = request.properties
    credentials = _credentials(props, runtime)
    with _reasons(props.tenant_id, credentials):
        async with runtime.open_graph(runtime.settings, credentials) as graph:
            service = RelayStateService(
                graph=graph,
                retrier=_retrier(runtime.settings, deadline),
                replication_seconds=runtime.settings.replication_seconds,
            )
            if request.request_type == "Delete":
                # The physical id names the service principal that was written, also when
                # the properties have moved on to another one.
                await service.clear(str(relay_state_target(request.physical_id)))
                return {"PhysicalResourceId": request.physical_id}
            relay_state = str(props.relay_state)
            await service.put(props.service_principal_id, relay_state)
    data = {"ServicePrincipalId": props.service_principal_id, "RelayState": relay_state}
    return {"PhysicalResourceId": props.physical_id, "Data": data}


def _retrier(settings: Settings, deadline: float) -> Retrier:
    return Retrier(
        deadline=deadline,
        base_seconds=settings.retry_base_seconds,
        max_seconds=settings.retry_max_seconds,
        propagation_seconds=settings.federation_propagation_seconds,
    )


def _service(graph: GraphPort, runtime: Runtime, deadline: float) -> SamlAppService:
    settings = runtime.settings
    return SamlAppService(
        graph=graph,
        metadata=runtime.metadata(settings),
        retrier=_retrier(settings, deadline),
        template_id=settings.template_id,
        login_authority=settings.login_authority,
        replication_seconds=settings.replication_seconds,
        upload_certificates=settings.uploads_signing_certificates,
    )


def _credentials(props: AppProperties | RelayStateProperties, runtime: Runtime) -> Credentials:
    tenant_id, secret_arn = props.tenant_id, str(props.credentials_secret_arn)
    if props.federation is not None:
        federation = props.federation
        return federated_credentials(
            tenant_id, federation.client_id, federation.audience, runtime.web_identity_token
        )
    credentials = runtime.read_credentials(secret_arn)
    if is_guid(credentials.tenant_id) and is_guid(tenant_id) and credentials.tenant_id != tenant_id:
        raise ProvisioningError(
            f"The credentials secret {secret_arn} is for tenant "
            f"{credentials.tenant_id} but TenantId is {tenant_id}: point "
            f"CredentialsSecretArn at a secret for tenant {tenant_id}."
        )
    return Credentials(
        tenant_id=tenant_id,
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
        certificate_pem=credentials.certificate_pem,
    )


@contextmanager
def _reasons(tenant_id: str, credentials: Credentials | None) -> Iterator[None]:
    """Turn any failure into a reason fit for CloudFormation: short, and free of secrets."""
    try:
        yield
    except StepFailed as failure:
        client_id = credentials.client_id if credentials else ""
        advice = credentials.sign_in_advice(failure.error.message) if credentials else None
        raise ProvisioningError(failure.explain(tenant_id, client_id, advice)) from failure
    except ProvisioningError:
        raise
    except Exception as exc:
        secrets = credentials.secret_values if credentials else ()
        detail = redact(f"{type(exc).__name__}: {exc}", *secrets)[:300]
        raise ProvisioningError(f"Unexpected failure ({detail}); see the Lambda log.") from exc


def _deadline(settings: Settings, context: Any) -> float:
    budget = settings.deadline_seconds
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        budget = min(budget, remaining_ms() / 1000 - SAFETY_MARGIN_SECONDS)
    return time.monotonic() + max(budget, 1.0)


def _https_metadata(settings: Settings) -> MetadataSource:
    return HttpsMetadataSource(settings.tls_verify(), settings.http_timeout_seconds)


def _data(provisioned: Provisioned) -> dict[str, str]:
    return {
        "ApplicationObjectId": provisioned.application_object_id,
        "AppId": provisioned.app_id,
        "ServicePrincipalId": provisioned.service_principal_id,
        "MetadataUrl": provisioned.metadata_url,
        "SigningCertificateThumbprint": provisioned.signing_thumbprint,
        "SigningCertificateExpiry": provisioned.signing_expiry.astimezone(UTC).strftime(
            EXPIRY_FORMAT
        ),
    }


def _log_request(entry: str, request: Request) -> None:
    log(
        entry,
        request_type=request.request_type,
        logical_id=request.owner.logical_id,
        physical_id=request.physical_id,
        tenant=request.properties.tenant_id,
    )
