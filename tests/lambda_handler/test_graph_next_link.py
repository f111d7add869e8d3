"""The handler's Graph adapter follows `@odata.nextLink` only on the Graph endpoint it was
given (SECURITY.md, "Hostile input", row 4): kiota would withhold the token from another
host, but still send the request there and trust its answer."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from entra_saml_app.errors import GraphError
from entra_saml_app.graph import MsGraph

BASE = "https://graph.microsoft.com/v1.0"


def adapter_answering(first_page: dict[str, Any]) -> tuple[MsGraph, list[str]]:
    """An MsGraph whose first page is `first_page` and whose later pages are empty; the
    next-page URLs it builds requests for are recorded."""
    followed: list[str] = []
    graph = MsGraph.__new__(MsGraph)
    graph._client = SimpleNamespace(request_adapter=SimpleNamespace(base_url=BASE))  # type: ignore[assignment]

    async def answer(_call: str, request: Any) -> dict[str, Any]:
        return first_page if request is None else {"value": []}

    graph._json = answer  # type: ignore[method-assign,assignment]
    return graph, followed


def builder(followed: list[str]) -> Any:
    def with_url(url: str) -> Any:
        followed.append(url)
        return SimpleNamespace(to_get_request_information=object)

    return SimpleNamespace(with_url=with_url)


def items(graph: MsGraph, followed: list[str]) -> list[Any]:
    async def collect() -> list[Any]:
        pages = graph._pages("GET /applications", None, builder(followed))  # type: ignore[arg-type]
        return [item async for item in pages]

    return asyncio.run(collect())


@pytest.mark.parametrize(
    "link",
    [
        "https://attacker.example/v1.0/applications?$skiptoken=x",
        "http://graph.microsoft.com/v1.0/applications?$skiptoken=x",
        "https://graph.microsoft.com:8443/v1.0/applications?$skiptoken=x",
    ],
    ids=["other-host", "plain-http", "other-port"],
)
def test_a_next_link_off_the_graph_endpoint_is_not_followed(link: str) -> None:
    graph, followed = adapter_answering({"value": [1], "@odata.nextLink": link})

    with pytest.raises(GraphError, match="not followed") as raised:
        items(graph, followed)

    assert followed == []
    assert raised.value.code == "UntrustedNextLink"
    assert not raised.value.transient


def test_a_next_link_on_the_graph_endpoint_is_followed() -> None:
    link = f"{BASE}/applications?$skiptoken=x"
    graph, followed = adapter_answering({"value": [1], "@odata.nextLink": link})

    assert items(graph, followed) == [1]
    assert followed == [link]
