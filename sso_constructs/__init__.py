"""Reusable constructs of cognito-entra-sso."""

from sso_constructs.app_client import SsoAppClient
from sso_constructs.resource_server import SsoResourceServer
from sso_constructs.user_pool import SsoUserPool

__all__ = ["SsoAppClient", "SsoResourceServer", "SsoUserPool"]
