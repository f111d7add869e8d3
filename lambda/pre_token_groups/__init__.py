"""Cognito pre token generation trigger (event version V2_0) that puts the Entra ID groups
mapped into a custom attribute into the ID and access tokens. Standard library only."""
