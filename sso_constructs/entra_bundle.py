"""The bundle of the Entra SAML application handler."""

from __future__ import annotations

from sso_constructs.bundling import REPO, PythonBundle

# msgraph-sdk ships a request builder for every Graph path (~300 MB installed). The handler
# reaches only these; builders load lazily from properties, so the rest can go. The models
# stay: deserialising any entity imports them.
GRAPH_BUILDERS_USED = (
    "application_templates",
    "applications",
    "directory",
    "service_principals",
    "models",
)

ENTRA_HANDLER_BUNDLE = PythonBundle(
    source=REPO / "lambda" / "entra_saml_app",
    lock_file=REPO / "lambda" / "entra_saml_app" / "requirements.lock",
    keep_only=(("msgraph/generated", GRAPH_BUILDERS_USED),),
    # Kiota's 37 MB description of the API, read by code generators only.
    drop=("msgraph/generated/kiota-dom-export.txt",),
)
