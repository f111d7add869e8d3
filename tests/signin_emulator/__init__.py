"""An emulated Cognito hosted UI, token endpoint and JWKS, with an emulated Entra SAML IdP.

`mobile-sso try-signin` runs against it in a real browser: the hosted UI's /oauth2/authorize
sends the browser to the emulated Entra, whose page auto-posts a signed SAMLResponse (the
HTTP-POST binding) to /saml2/idpresponse, which redirects to the loopback callback URL with
a code. Everything listens on 127.0.0.1 only.
"""

from tests.signin_emulator.server import Behaviour, SignInEmulator, User

__all__ = ["Behaviour", "SignInEmulator", "User"]
