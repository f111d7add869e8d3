"""An OAuth 2.0 resource server of the pool: the custom scopes app clients may request."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_cognito as cognito
from constructs import Construct


class SsoResourceServer(Construct):
    """A resource server (an API) with its custom scopes, `{scope name: description}`.

    Clients request a scope as `<identifier>/<scope name>`; Cognito refuses to create a
    client asking for a scope no resource server of its pool defines, so a client using
    these scopes depends on this construct (`SsoAppClient(resource_servers=...)`).
    Changing `identifier` replaces the resource server.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        user_pool: cognito.IUserPool,
        identifier: str,
        name: str,
        scopes: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.identifier = identifier
        self.resource_server = cognito.UserPoolResourceServer(
            self,
            "Resource",
            user_pool=user_pool,
            identifier=identifier,
            user_pool_resource_server_name=name,
            scopes=[
                cognito.ResourceServerScope(scope_name=scope_name, scope_description=description)
                for scope_name, description in scopes.items()
            ],
        )

    def scope_value(self, scope_name: str) -> str:
        """The scope as a client requests it: `<identifier>/<scope name>`."""
        return f"{self.identifier}/{scope_name}"
