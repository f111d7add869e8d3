"""`mobile-sso doctor` and a tenant with federated credentials: there is no deployer secret
to sign in with, and the doctor says which credential source to use instead."""

from __future__ import annotations

import pytest

from mobile_sso.config import parse_config
from mobile_sso.doctor import _entra_opener
from mobile_sso.entra_graph import CredentialSource, EntraReadError
from tests.conftest import example_data


def test_secret_source_for_a_federated_tenant_points_to_the_cli_source() -> None:
    data = example_data()
    del data["entra"][0]["credentials_secret"]
    data["entra"][0]["federation"] = {"client_id": "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e"}
    config = parse_config(data, "federated.yaml")
    open_tenant = _entra_opener(config, CredentialSource.SECRET)

    with pytest.raises(EntraReadError) as caught, open_tenant(config.entra[0]):
        pass

    assert "uses federated credentials" in str(caught.value)
    assert "--entra-credentials cli" in caught.value.fix
