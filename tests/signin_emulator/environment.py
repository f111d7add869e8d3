"""A config file and an outputs file for an environment with a `cli` client whose loopback
callback URL is on a free port, as `mobile-sso try-signin` reads them."""

from __future__ import annotations

import json
import random
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mobile_sso.try_signin import COGNITO_IDP_ENDPOINT_VARIABLE, HOSTED_UI_ENDPOINT_VARIABLE
from tests.conftest import REPO, example_data
from tests.signin_emulator.server import Behaviour, SignInEmulator

STACK = "MobileSso-Example"
CLI_CLIENT_ID = "3q9v1k7m2c8x5b0n4h6j2l1p0s"
OUTPUTS_FIXTURE = REPO / "tests" / "fixtures" / "outputs" / "cdk-outputs-example.json"


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A free port below the ephemeral range, as a registered callback port would be.

    A port the OS handed out (bind to 0) is soon handed out again, to the emulator or to
    the local end of a browser's connection, and the callback could then not listen on it.
    """
    start = _ephemeral_start()
    for _ in range(100):
        port = random.randrange(10_000, start)  # noqa: S311 (not for security)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between 10000 and {start}")


@dataclass(frozen=True)
class Environment:
    config: Path
    outputs: Path
    callback_url: str
    user_pool_id: str
    domain: str
    idp_name: str

    @property
    def args(self) -> list[str]:
        """The try-signin arguments that read this environment."""
        return [
            "try-signin",
            *("--env", "test"),
            *("--config", str(self.config)),
            *("--outputs-file", str(self.outputs)),
        ]

    def emulator(self, *, behaviour: Behaviour | None = None) -> SignInEmulator:
        return SignInEmulator(
            user_pool_id=self.user_pool_id,
            domain=self.domain,
            idp_name=self.idp_name,
            clients={CLI_CLIENT_ID: [self.callback_url]},
            behaviour=behaviour,
        )


def write_environment(directory: Path, *, callback_url: str | None = None) -> Environment:
    """The example environment plus a `cli` client, as config/test.yaml and its outputs."""
    url = callback_url or f"http://127.0.0.1:{free_port()}/callback"
    data = example_data()
    cli = {
        "name": "cli",
        "platform": "web",
        "callback_urls": [url],
        "sign_out_urls": [url.replace("/callback", "/signed-out")],
        "scopes": ["openid", "email", "profile"],
    }
    data["clients"].append(cli)
    config = directory / "test.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    outputs = json.loads(OUTPUTS_FIXTURE.read_text(encoding="utf-8"))
    stack = outputs[STACK]
    stack["ClientNames"] += ",cli"
    stack |= {
        "ClientCliId": CLI_CLIENT_ID,
        "ClientCliIdentityProviders": "EntraID",
        "ClientCliPlatform": "web",
        "ClientCliCallbackUrls": url,
        "ClientCliSignOutUrls": cli["sign_out_urls"][0],
        "ClientCliScopes": "openid,email,profile",
        "ClientCliOAuthFlows": "authorization_code",
    }
    outputs_file = directory / "cdk-outputs-test.json"
    outputs_file.write_text(json.dumps(outputs, indent=2), encoding="utf-8")
    return Environment(
        config=config,
        outputs=outputs_file,
        callback_url=url,
        user_pool_id=stack["UserPoolId"],
        domain=stack["CognitoDomain"],
        idp_name="EntraID",
    )


def point_at(monkeypatch: pytest.MonkeyPatch, emulator: SignInEmulator) -> None:
    """Send try-signin's hosted-UI, token and JWKS requests to the emulator."""
    monkeypatch.setenv(HOSTED_UI_ENDPOINT_VARIABLE, emulator.url)
    monkeypatch.setenv(COGNITO_IDP_ENDPOINT_VARIABLE, emulator.url)
