"""In-repo emulators of the cloud services the custom resource handler talks to."""

from ._sts import StsEmulator
from .entra import EntraEmulator, RecordedRequest, SigningCertificateInfo

__all__ = ["EntraEmulator", "RecordedRequest", "SigningCertificateInfo", "StsEmulator"]
