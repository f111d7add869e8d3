"""`mobile-sso rotate-certificate` against the Entra emulator on a simulated clock.

Cognito is modelled by what matters here: it reads the metadata URL and keeps that copy for
up to 6 hours, and accepts a response signed by any certificate in the copy it holds. The
no-outage test signs a response with whatever certificate Entra signs with at each moment
and checks it against Cognito's copy at that moment, with `mobile_sso.saml_check`.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import boto3  # type: ignore[import-untyped]
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from moto import mock_aws
from typer.testing import CliRunner, Result

from mobile_sso import rotate_certificate
from mobile_sso.check_response import fetch_metadata
from mobile_sso.cli import app
from mobile_sso.config import load_config
from mobile_sso.entra_graph import (
    EntraReadError,
    HttpGraphWriter,
    SigningCertificate,
    SigningCertificates,
)
from mobile_sso.rotate_certificate import (
    METADATA_CACHE,
    Phase,
    Step,
    advance,
    earliest_activation,
    plan,
    published_thumbprints,
)
from mobile_sso.saml_check import Expectations, UnreadableMetadata, check_response
from tests.emulators import EntraEmulator
from tests.emulators._pki import Issued
from tests.emulators.clients import metadata_signing_thumbprints
from tests.graph_clients import deployer_secret, deployer_writer, emulator_endpoints
from tests.saml_factory import (
    ACS_URL,
    AUDIENCE,
    DOMAIN,
    USER_POOL_ID,
    ResponseSpec,
    build_response,
    to_xml,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
SUBJECT = "CN=Microsoft Azure Federated SSO Certificate"
DAY = dt.timedelta(days=1)


@dataclass
class Tenant:
    """The emulator, one SAML app in it with an active certificate, and a Graph writer."""

    entra: EntraEmulator
    graph: HttpGraphWriter
    app_id: str
    sp_id: str
    url: str
    tls: ssl.SSLContext

    def fetch(self, url: str) -> bytes | UnreadableMetadata:
        return fetch_metadata(url, tls=self.tls)

    def now(self) -> dt.datetime:
        return self.entra.clock.now()

    def at(self, moment: dt.datetime) -> None:
        self.entra.clock.set(moment)

    def run(self, *, dry_run: bool = False, force: bool = False) -> Step:
        return advance(
            self.graph,
            self.fetch,
            app_id=self.app_id,
            metadata_url=self.url,
            now=self.now(),
            dry_run=dry_run,
            force=force,
        )

    def thumbprints(self) -> list[str]:
        return [c.thumbprint for c in self.entra.signing_certificates(self.sp_id)]

    def active(self) -> str:
        (active,) = [c.thumbprint for c in self.entra.signing_certificates(self.sp_id) if c.active]
        return active

    def listed(self) -> list[str]:
        document = self.fetch(self.url)
        assert isinstance(document, bytes)
        return metadata_signing_thumbprints(document)

    def writes(self) -> list[str]:
        return [r.method for r in self.entra.requests() if r.method != "GET"]


@pytest.fixture
def tenant() -> Iterator[Tenant]:
    with EntraEmulator() as entra:
        entra.clock.set(T0 - dt.timedelta(days=300))
        seeded = entra.add_application("Rotation")
        app_id = seeded["application"]["appId"]
        sp_id = seeded["servicePrincipal"]["id"]
        with deployer_writer(entra) as graph:
            # The custom resource's certificate: 50 days left, so a rotation is due.
            first = graph.add_signing_certificate(sp_id, SUBJECT, T0 + dt.timedelta(days=50))
            graph.activate_signing_certificate(sp_id, first)
            entra.clock.set(T0)
            entra.clear_requests()
            yield Tenant(
                entra,
                graph,
                app_id,
                sp_id,
                entra.metadata_url(app_id),
                emulator_endpoints(entra).tls(),
            )


@dataclass
class Cognito:
    """Cognito's copy of the IdP metadata: read on `refresh`, and again whenever it is
    6 hours old (the most it caches), never in between."""

    tenant: Tenant
    document: bytes = b""
    read_at: dt.datetime | None = None

    def refresh(self) -> None:
        document = self.tenant.fetch(self.tenant.url)
        assert isinstance(document, bytes)
        self.document, self.read_at = document, self.tenant.now()

    def holds(self) -> bytes:
        if self.read_at is None or self.tenant.now() - self.read_at >= METADATA_CACHE:
            self.refresh()
        return self.document

    def signs_in(self) -> bool:
        return self.refusals() == []

    def refusals(self) -> list[str]:
        """Why Cognito refuses a response signed by the certificate Entra signs with now
        (the categories of the errors), checked against the metadata copy it holds now."""
        now = self.tenant.now()
        (signing,) = [
            c for c in self.tenant.entra.signing_certificates(self.tenant.sp_id) if c.active
        ]
        signer = Issued(
            x509.load_pem_x509_certificate(signing.cert_pem),
            serialization.load_pem_private_key(signing.key_pem, password=None),  # type: ignore[arg-type]
        )
        issuer = f"https://sts.windows.net/{self.tenant.entra.tenant_id}/"
        spec = ResponseSpec(
            issuer=issuer,
            response_issuer=issuer,
            audience=AUDIENCE,
            recipient=ACS_URL,
            destination=ACS_URL,
            in_response_to=None,
            issued=now - dt.timedelta(seconds=5),
        )
        response = to_xml(build_response(spec, signer))
        expect = Expectations(user_pool_id=USER_POOL_ID, domain=DOMAIN, now=now, idp_initiated=True)
        report = check_response(response, self.holds(), expect)
        return [f.category for f in report.findings if f.severity == "error"]


# --- the emulator publishes what Entra publishes -----------------------------------------


def test_metadata_lists_an_inactive_certificate_after_the_active_one(tenant: Tenant) -> None:
    active = tenant.active()
    added = tenant.graph.add_signing_certificate(tenant.sp_id, SUBJECT, T0 + dt.timedelta(days=700))

    assert tenant.listed() == [active, added]


def test_removing_an_inactive_certificate_drops_its_keys_password_and_listing(
    tenant: Tenant,
) -> None:
    old = tenant.active()
    new = tenant.graph.add_signing_certificate(tenant.sp_id, SUBJECT, T0 + dt.timedelta(days=700))
    tenant.graph.activate_signing_certificate(tenant.sp_id, new)
    state = tenant.graph.signing_certificates(tenant.app_id)
    assert state is not None

    tenant.graph.remove_signing_certificates(state, frozenset({old}))

    (sp,) = tenant.entra.service_principals()
    assert tenant.thumbprints() == [new]
    assert len(sp["keyCredentials"]) == 2
    assert len(sp["passwordCredentials"]) == 1
    assert tenant.listed() == [new]


def test_the_active_certificate_cannot_be_removed(tenant: Tenant) -> None:
    state = tenant.graph.signing_certificates(tenant.app_id)
    assert state is not None

    with pytest.raises(EntraReadError, match="400"):
        tenant.graph.remove_signing_certificates(state, frozenset({tenant.active()}))

    assert len(tenant.thumbprints()) == 1


def test_removing_a_certificates_keys_but_not_its_password_is_refused(tenant: Tenant) -> None:
    tenant.graph.add_signing_certificate(tenant.sp_id, SUBJECT, T0 + dt.timedelta(days=700))
    (sp,) = tenant.entra.service_principals()
    first_keys = sp["keyCredentials"][:2]  # the first certificate's Verify and Sign keys
    body = {"keyCredentials": first_keys, "passwordCredentials": sp["passwordCredentials"]}

    with pytest.raises(EntraReadError, match="together"):
        tenant.graph._send("PATCH", f"/servicePrincipals/{tenant.sp_id}", body, "PATCH")

    assert len(tenant.thumbprints()) == 2


# --- one phase per run ---------------------------------------------------------------------


def test_first_run_adds_an_inactive_certificate_when_expiry_is_within_60_days(
    tenant: Tenant,
) -> None:
    old = tenant.active()

    step = tenant.run()

    assert step.phase is Phase.START
    (added,) = step.thumbprints
    assert tenant.thumbprints() == [old, added]
    assert tenant.active() == old
    assert step.not_before == T0 + dt.timedelta(hours=6, minutes=30)


def test_no_rotation_starts_while_the_certificate_is_valid_beyond_60_days(tenant: Tenant) -> None:
    tenant.at(T0 - dt.timedelta(days=30))

    step = tenant.run()

    assert step.phase is Phase.NOTHING
    assert "--force" in step.message
    assert tenant.writes() == []


def test_force_starts_a_rotation_early(tenant: Tenant) -> None:
    tenant.at(T0 - dt.timedelta(days=30))

    step = tenant.run(force=True)

    assert step.phase is Phase.START
    assert len(tenant.thumbprints()) == 2


def test_activation_before_cognitos_cache_can_hold_the_new_certificate_is_refused(
    tenant: Tenant,
) -> None:
    old = tenant.active()
    tenant.run()
    tenant.at(T0 + dt.timedelta(hours=6))
    tenant.entra.clear_requests()

    step = tenant.run()

    assert step.phase is Phase.WAIT
    assert "2026-03-02 15:30 UTC" in step.message
    assert step.not_before == T0 + dt.timedelta(hours=6, minutes=30)
    assert tenant.active() == old
    assert tenant.writes() == []


def test_activation_waits_while_the_metadata_does_not_list_the_new_certificate(
    tenant: Tenant,
) -> None:
    old = tenant.active()
    tenant.entra.metadata_lag(fetches=100)
    tenant.run()
    tenant.at(T0 + dt.timedelta(hours=7))

    step = tenant.run()

    assert step.phase is Phase.WAIT
    assert "does not list the new certificate" in step.message
    assert tenant.active() == old


def test_activation_after_the_wait_makes_the_new_certificate_the_signing_one(
    tenant: Tenant,
) -> None:
    (added,) = tenant.run().thumbprints
    tenant.at(earliest_activation(T0))

    step = tenant.run()

    assert step.phase is Phase.ACTIVATE
    assert tenant.active() == added
    assert len(tenant.thumbprints()) == 2


def test_retire_removes_the_old_certificate_and_completes_the_rotation(tenant: Tenant) -> None:
    (added,) = tenant.run().thumbprints
    tenant.at(earliest_activation(T0))
    tenant.run()

    step = tenant.run()

    assert step.phase is Phase.RETIRE
    assert tenant.thumbprints() == [added]
    assert tenant.listed() == [added]
    assert tenant.run().phase is Phase.NOTHING


def test_a_repeated_run_at_the_same_moment_adds_nothing_more(tenant: Tenant) -> None:
    tenant.run()
    tenant.entra.clear_requests()

    again = tenant.run()

    assert again.phase is Phase.WAIT
    assert len(tenant.thumbprints()) == 2
    assert tenant.writes() == []


def test_dry_run_says_the_next_step_and_writes_nothing(tenant: Tenant) -> None:
    step = tenant.run(dry_run=True)

    assert step.phase is Phase.START
    assert tenant.writes() == []
    assert len(tenant.thumbprints()) == 1


def test_an_expired_active_certificate_is_replaced_without_the_wait(tenant: Tenant) -> None:
    (added,) = tenant.run().thumbprints
    tenant.at(T0 + dt.timedelta(days=51))

    step = tenant.run()

    assert step.phase is Phase.ACTIVATE
    assert "already fail" in step.message
    assert tenant.active() == added


def test_activation_waits_while_the_metadata_url_cannot_be_read() -> None:
    old = SigningCertificate("AA" * 20, "a", SUBJECT, T0 - dt.timedelta(days=900), T0)
    new = replace(old, thumbprint="BB" * 20, custom_key_identifier="b", start=T0 - DAY)
    state = SigningCertificates("sp", "Rotation", old.thumbprint, (old, new))

    step = plan(state, None, T0 - dt.timedelta(hours=1))

    assert step.phase is Phase.WAIT
    assert "could not be read" in step.message


def test_metadata_that_cannot_be_read_is_not_taken_as_listing_anything() -> None:
    assert published_thumbprints(UnreadableMetadata("down")) is None
    assert published_thumbprints(b"<html>error</html>") is None


# --- no outage --------------------------------------------------------------------------------


def test_rotation_run_every_15_minutes_never_fails_a_sign_in(tenant: Tenant) -> None:
    cognito = Cognito(tenant)
    # The worst case: Cognito reads the metadata just before the new certificate exists, and
    # keeps that copy (old certificate only) for the full 6 hours.
    tenant.at(T0 - dt.timedelta(minutes=1))
    cognito.refresh()
    phases: list[tuple[float, Phase]] = []
    failures: list[float] = []
    for tick in range(14 * 4):
        tenant.at(T0 + tick * dt.timedelta(minutes=15))
        step = tenant.run()
        if step.phase is not Phase.WAIT:
            phases.append((tick / 4, step.phase))
        if not cognito.signs_in():
            failures.append(tick / 4)

    assert failures == []
    assert [phase for _, phase in phases[:4]] == [
        Phase.START,
        Phase.ACTIVATE,
        Phase.RETIRE,
        Phase.NOTHING,
    ]
    assert phases[1][0] == 6.5  # hours after the start


def test_activating_without_the_wait_would_fail_sign_ins(tenant: Tenant) -> None:
    cognito = Cognito(tenant)
    tenant.at(T0 - dt.timedelta(minutes=1))
    cognito.refresh()
    tenant.at(T0)
    (added,) = tenant.run().thumbprints
    tenant.at(T0 + dt.timedelta(hours=1))
    assert tenant.run().phase is Phase.WAIT  # the command refuses ...

    tenant.graph.activate_signing_certificate(tenant.sp_id, added)  # ... doing it by hand

    assert cognito.refusals() == ["signature"]
    tenant.at(T0 + dt.timedelta(hours=6))
    assert cognito.signs_in()  # only once Cognito's copy is refreshed


# --- the command --------------------------------------------------------------------------


@dataclass
class Deployed:
    """The example environment's IdP in the emulator, its outputs file and deployer secret."""

    entra: EntraEmulator
    sp_id: str
    args: list[str]

    def invoke(self, *extra: str) -> Result:
        return CliRunner().invoke(app, [*self.args, *extra])


@pytest.fixture
def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    config = load_config("example")
    tenant = config.entra[0]
    with mock_aws(), EntraEmulator(tenant_id=tenant.tenant_id) as entra:
        monkeypatch.setenv("ENTRA_GRAPH_ENDPOINT", entra.graph_base_url)
        monkeypatch.setenv("ENTRA_LOGIN_AUTHORITY", entra.authority_url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(entra.ca_bundle))
        monkeypatch.setattr(rotate_certificate, "utcnow", entra.clock.now)
        secret = deployer_secret(entra)
        boto3.client("secretsmanager", region_name=config.region).create_secret(
            Name=tenant.credentials_secret,
            SecretString=json.dumps(
                {
                    "tenantId": secret.tenant_id,
                    "clientId": secret.client_id,
                    "clientSecret": secret.client_secret,
                }
            ),
        )
        entra.clock.set(T0 - dt.timedelta(days=300))
        seeded = entra.add_application("Rotation")
        app_id, sp_id = seeded["application"]["appId"], seeded["servicePrincipal"]["id"]
        idp = "Idp" + tenant.idp_name
        outputs = tmp_path / "outputs.json"
        outputs.write_text(
            json.dumps(
                {
                    config.stack_name: {
                        f"{idp}EntraAppId": app_id,
                        f"{idp}MetadataUrl": entra.metadata_url(app_id),
                    }
                }
            )
        )
        with deployer_writer(entra) as graph:
            first = graph.add_signing_certificate(sp_id, SUBJECT, T0 + dt.timedelta(days=20))
            graph.activate_signing_certificate(sp_id, first)
        entra.clock.set(T0)
        entra.clear_requests()
        args = ["rotate-certificate", "--env", "example", "--outputs-file", str(outputs)]
        yield Deployed(entra, sp_id, args)


def test_command_too_early_exits_3_naming_when_it_may_run(deployed: Deployed) -> None:
    started = deployed.invoke()
    deployed.entra.clock.set(T0 + dt.timedelta(hours=2))

    early = deployed.invoke()

    assert started.exit_code == 0, started.output
    assert "run again from 2026-03-02 15:30 UTC" in started.stdout
    assert early.exit_code == 3, early.output
    assert "It may be activated from 2026-03-02 15:30 UTC" in early.stdout
    assert [c.active for c in deployed.entra.signing_certificates(deployed.sp_id)] == [True, False]


def test_command_dry_run_prints_the_next_step_and_writes_nothing(deployed: Deployed) -> None:
    result = deployed.invoke("--dry-run")

    assert result.exit_code == 0, result.output
    assert "dry run, would: add a new signing certificate" in result.stdout
    assert [r.method for r in deployed.entra.requests() if r.method != "GET"] == []
    assert len(deployed.entra.signing_certificates(deployed.sp_id)) == 1


def test_command_for_an_idp_the_environment_lacks_is_bad_usage(deployed: Deployed) -> None:
    result = deployed.invoke("--idp", "Nope")

    assert result.exit_code == 2
    assert "'Nope' is not an identity provider of this environment" in result.output
