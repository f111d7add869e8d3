"""The loopback-callback rule: try-signin's localhost callback URLs belong to dev."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from mobile_sso.config import ConfigError, Stage, parse_config
from tests.conftest import REPO, example_data

LOOPBACK = "http://localhost:8400/callback"


def with_cli_client(stage: Stage, **client: Any) -> dict[str, Any]:
    data = example_data()
    data["stage"] = stage.value
    data["clients"].append(
        {
            "name": "cli",
            "platform": "web",
            "callback_urls": ["com.example.app://cb", LOOPBACK],
            "sign_out_urls": ["http://localhost:8400/signed-out"],
            **client,
        }
    )
    return data


def problems_for(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "config/prod.yaml")
    return caught.value.problems


def test_loopback_callback_is_refused_outside_dev() -> None:
    assert problems_for(with_cli_client(Stage.PROD)) == [
        f"clients: client 'cli': callback_urls[1] '{LOOPBACK}' is a loopback URL, allowed only "
        "in stage dev (this is prod): it is for testing sign-in on a developer machine "
        "(mobile-sso try-signin); remove it, or set allow_loopback_callbacks: true on the "
        "client to keep it on purpose"
    ]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8400/cb", "http://[::1]:8400/cb"])
def test_every_loopback_host_counts_as_loopback(url: str) -> None:
    data = with_cli_client(Stage.STAGING, callback_urls=[url])
    assert (
        "is a loopback URL, allowed only in stage dev (this is staging)" in (problems_for(data)[0])
    )


def test_loopback_callback_is_allowed_in_dev() -> None:
    config = parse_config(with_cli_client(Stage.DEV), "config/dev.yaml")
    assert config.clients[-1].callback_urls[-1] == LOOPBACK


def test_loopback_callback_outside_dev_is_allowed_when_the_client_says_so() -> None:
    data = with_cli_client(Stage.PROD, allow_loopback_callbacks=True)
    assert parse_config(data, "config/prod.yaml").clients[-1].allow_loopback_callbacks


def test_loopback_sign_out_url_outside_dev_is_allowed() -> None:
    # A sign-out redirect carries no authorization code.
    data = with_cli_client(Stage.PROD, callback_urls=["com.example.app://cb"])
    assert parse_config(data, "config/prod.yaml").clients[-1].sign_out_urls == [
        "http://localhost:8400/signed-out"
    ]


def test_example_cli_client_is_valid_once_uncommented() -> None:
    text = (REPO / "config" / "example.yaml").read_text(encoding="utf-8")
    block = re.search(r"^  # - name: cli\n(?:^  #   .*\n)+", text, flags=re.MULTILINE)
    assert block is not None, "config/example.yaml lost its commented-out cli client"
    uncommented = block.group(0).replace("  # ", "  ")
    config = parse_config(yaml.safe_load(text.replace(block.group(0), uncommented)), "example")
    assert [c.name for c in config.clients] == ["ios", "android", "cli"]
    assert config.clients[-1].callback_urls == [LOOPBACK]
