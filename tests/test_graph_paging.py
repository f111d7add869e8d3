"""The CLI's Graph clients follow `@odata.nextLink` only on the configured Graph root, and
read each answer only up to a size limit (SECURITY.md, "Hostile input", row 4).

Graph is stood in for by an httpx.MockTransport, so a test can answer what Graph never would
and see every request the client makes, the token it carries included."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken

from mobile_sso import entra_graph
from mobile_sso.bootstrap_entra import AdminGraph, BootstrapError
from mobile_sso.entra_graph import Endpoints, EntraReadError, HttpGraphReader

GRAPH = "https://graph.microsoft.com"
TOKEN = "token-for-graph"
SP = "11111111-1111-1111-1111-111111111111"
Handler = Callable[[httpx.Request], httpx.Response]


class Token:
    def get_token(self, *_scopes: str, **_kwargs: Any) -> AccessToken:
        return AccessToken(TOKEN, 4102444800)


def endpoints() -> Endpoints:
    return Endpoints.for_cloud("global", env={})


def first_page_links_to(next_link: str) -> tuple[Handler, list[httpx.Request]]:
    """Graph answering one assignment and `next_link`; every request is recorded."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host != "graph.microsoft.com" or "skiptoken" in str(request.url):
            return httpx.Response(200, json={"value": []})
        item = {"principalId": "u1", "principalType": "User", "principalDisplayName": "A"}
        return httpx.Response(200, json={"value": [item], "@odata.nextLink": next_link})

    return answer, seen


def reader(answer: Handler) -> Iterator[HttpGraphReader]:
    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        yield HttpGraphReader(http, endpoints(), Token(), "tenant")


def admin(answer: Handler) -> Iterator[AdminGraph]:
    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        yield AdminGraph(http, endpoints(), lambda: TOKEN, sleep=lambda _s: None)


@pytest.mark.parametrize(
    "link",
    [
        "https://attacker.example/v1.0/servicePrincipals?$skiptoken=2",
        "http://graph.microsoft.com/v1.0/servicePrincipals?$skiptoken=2",
        "https://graph.microsoft.com:8443/v1.0/servicePrincipals?$skiptoken=2",
        "https://graph.microsoft.com@attacker.example/v1.0/x?$skiptoken=2",
        "//attacker.example/v1.0/x?$skiptoken=2",
    ],
    ids=["other-host", "plain-http", "other-port", "user-info", "scheme-relative"],
)
def test_doctor_reader_refuses_a_next_link_off_the_graph_root(link: str) -> None:
    answer, seen = first_page_links_to(link)

    for graph in reader(answer):
        with pytest.raises(EntraReadError, match=r"next-page link to .* not following it"):
            graph.assignments(SP)

    assert [r.url.host for r in seen] == ["graph.microsoft.com"]
    assert all(r.url.port in (None, 443) and r.url.scheme == "https" for r in seen)


def test_doctor_reader_names_the_foreign_host_and_the_fix() -> None:
    answer, _seen = first_page_links_to("https://attacker.example/steal?$skiptoken=2")

    for graph in reader(answer):
        with pytest.raises(EntraReadError, match=r"'attacker\.example'") as raised:
            graph.assignments(SP)

    assert "ENTRA_GRAPH_ENDPOINT" in raised.value.fix


def test_doctor_reader_follows_a_next_link_on_the_graph_root() -> None:
    answer, seen = first_page_links_to(f"{GRAPH}/v1.0/servicePrincipals/{SP}?$skiptoken=2")

    for graph in reader(answer):
        found = graph.assignments(SP)

    assert [a.principal_id for a in found] == ["u1"]
    assert len(seen) == 2
    assert seen[1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_bootstrap_admin_graph_refuses_a_next_link_to_another_host() -> None:
    answer, seen = first_page_links_to("https://attacker.example/v1.0/x?$skiptoken=2")

    for graph in admin(answer):
        with pytest.raises(BootstrapError, match=r"'attacker\.example'"):
            graph.list(f"/servicePrincipals/{SP}/appRoleAssignments")

    assert {r.url.host for r in seen} == {"graph.microsoft.com"}


def test_bootstrap_admin_graph_follows_a_next_link_on_the_graph_root() -> None:
    answer, seen = first_page_links_to(f"{GRAPH}/v1.0/x?$skiptoken=2")

    for graph in admin(answer):
        items = graph.list(f"/servicePrincipals/{SP}/appRoleAssignments")

    assert len(items) == 1
    assert len(seen) == 2


def big_answer(size: int, *, declare_length: bool) -> Handler:
    def answer(_request: httpx.Request) -> httpx.Response:
        def chunks() -> Iterator[bytes]:
            yield b'{"value": ["'
            for _ in range(size // 65536 + 1):
                yield b"x" * 65536
            yield b'"]}'

        headers = {"Content-Length": str(size)} if declare_length else {}
        return httpx.Response(200, headers=headers, content=chunks())

    return answer


@pytest.mark.parametrize("declare_length", [True, False], ids=["declared", "streamed"])
def test_a_graph_answer_over_the_limit_is_refused_while_it_is_read(
    declare_length: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entra_graph, "MAX_RESPONSE_BYTES", 1024 * 1024)

    for graph in reader(big_answer(3 * 1024 * 1024, declare_length=declare_length)):
        with pytest.raises(EntraReadError, match=r"answered more than 1 MB: not reading it"):
            graph.assignments(SP)


def test_the_admin_graph_refuses_an_answer_over_the_limit() -> None:
    size = entra_graph.MAX_RESPONSE_BYTES + 1

    for graph in admin(big_answer(size, declare_length=False)):
        with pytest.raises(BootstrapError, match=r"answered more than 8 MB"):
            graph.get(f"/servicePrincipals/{SP}")
