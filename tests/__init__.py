"""The test suite. The tests read the repository's config/ (load_config("example")): a
config directory named in the developer's shell must not redirect them, nor the CDK apps
they synthesize. Done here, before any test module loads a config at import time; the name
is mobile_sso.config.CONFIG_DIR_VARIABLE, spelled out because `make browser` imports this
package with the system Python, without the project's dependencies."""

import os

os.environ.pop("MOBILE_SSO_CONFIG_DIR", None)
