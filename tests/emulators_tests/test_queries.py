"""The OData query subset: `$filter` grammar, `$select`, `$top` paging and `$count`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.emulators import EntraEmulator
from tests.emulators._graph import APPLICATION_FILTERS
from tests.emulators._odata import GraphError, compile_filter

APP = {
    "id": "1",
    "displayName": "Mobile O'Brien",
    "tags": ["a", "Stack:One"],
    "identifierUris": ["urn:x"],
    "web": {"redirectUris": ["https://d/saml2/idpresponse"]},
}


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        ("displayName eq 'mobile o''brien'", True),
        ("displayName eq 'other'", False),
        ("tags/any(t:t eq 'stack:one')", True),
        ("tags/any(t: startswith(t, 'Stack'))", True),
        ("identifierUris/any(x:x eq 'urn:y')", False),
        ("web/redirectUris/any(u:u eq 'https://d/saml2/idpresponse')", True),
        ("displayName in ('x', 'Mobile O''Brien')", True),
        ("(displayName eq 'x' or tags/any(t:t eq 'a')) and id eq '1'", True),
        ("startswith(displayName,'Mob') and id eq '2'", False),
    ],
)
def test_supported_filters_evaluate_like_graph(expression: str, matches: bool) -> None:
    assert compile_filter(expression, APPLICATION_FILTERS)(APP) is matches


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ("notes eq 'x'", "Request_UnsupportedQuery"),
        ("tags/all(t:t eq 'a')", "Request_UnsupportedQuery"),
        ("not (id eq '1')", "Request_UnsupportedQuery"),
        ("id eq", "BadRequest"),
        ("id eq '1' junk", "BadRequest"),
        ("id ~ '1'", "BadRequest"),
    ],
)
def test_other_filters_are_refused(expression: str, code: str) -> None:
    with pytest.raises(GraphError) as refused:
        compile_filter(expression, APPLICATION_FILTERS)
    assert (refused.value.status, refused.value.code) == (400, code)


def get(emulator: EntraEmulator, path: str, **headers: str) -> Any:
    token = emulator.issue_access_token()
    url = path if path.startswith("http") else f"{emulator.graph_base_url}/v1.0{path}"
    return httpx.get(url, headers={"Authorization": f"Bearer {token}", **headers}, timeout=10)


def test_select_top_paging_and_count(emulator: EntraEmulator) -> None:
    for index in range(3):
        emulator.add_application(f"App {index}")
    page = get(emulator, "/applications?$select=id,displayName&$top=2").json()
    assert [sorted(item) for item in page["value"]] == [["displayName", "id"]] * 2
    rest = get(emulator, page["@odata.nextLink"]).json()
    assert len(rest["value"]) == 1
    assert "@odata.nextLink" not in rest
    assert get(emulator, "/applications?$select=nope").status_code == 400
    assert get(emulator, "/applications?$top=0").status_code == 400
    assert get(emulator, "/applications?$count=true").status_code == 400
    counted = get(emulator, "/applications?$count=true", ConsistencyLevel="eventual").json()
    assert counted["@odata.count"] == 3


def test_deleted_items_can_be_read_filtered_and_restored(emulator: EntraEmulator) -> None:
    deleted_id = emulator.add_soft_deleted_application("urn:restore-me")
    token = emulator.issue_access_token()
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{emulator.graph_base_url}/v1.0/directory/deletedItems"
    item = httpx.get(f"{base}/{deleted_id}", headers=headers).json()
    assert item["@odata.type"] == "#microsoft.graph.application"
    assert item["deletedDateTime"]
    filtered = httpx.get(
        f"{base}/graph.application",
        params={"$filter": "identifierUris/any(x:x eq 'urn:restore-me')"},
        headers=headers,
    ).json()
    assert [a["id"] for a in filtered["value"]] == [deleted_id]
    assert httpx.post(f"{base}/{deleted_id}/restore", headers=headers).status_code == 200
    assert [a["id"] for a in emulator.applications()] == [deleted_id]
    assert httpx.get(f"{base}/{deleted_id}", headers=headers).status_code == 404
