"""The certificate-check bundle runs in the Lambda runtime's Python with only itself on the path."""

from __future__ import annotations

import subprocess

import pytest

from sso_constructs.certificate_monitor import CERT_CHECK_BUNDLE
from tests.conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "app-federation-metadata.xml"


def test_bundled_check_reads_real_entra_metadata() -> None:
    if CERT_CHECK_BUNDLE.compiler is None:
        pytest.skip(f"no Python {CERT_CHECK_BUNDLE.python_version} interpreter here")
    bundle = CERT_CHECK_BUNDLE.cached_build()
    probe = subprocess.run(  # noqa: S603 - fixed arguments
        [
            CERT_CHECK_BUNDLE.compiler,
            "-I",
            "-c",
            "import sys, datetime; sys.path.insert(0, sys.argv[1]); "
            "from cert_expiry_check.handler import days_to_expiry; "
            "now = datetime.datetime(2026, 2, 4, tzinfo=datetime.UTC); "
            "print(days_to_expiry(open(sys.argv[2], 'rb').read(), now))",
            str(bundle),
            str(FIXTURE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert 9.0 < float(probe.stdout) < 11.0  # the certificate expired on 2026-02-14
