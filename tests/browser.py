"""The Chrome or Chromium that the browser tests drive through Playwright (whose own
browser download, `playwright install`, is never used).

`make browser` runs this module with the system Python (no virtualenv yet, so the standard
library only): it prints the browser's path, or says on standard error where it looked and
exits 1. The tests call `require_browser(find_browser())`: without a browser they skip,
except in CI (the variable CI set), where a skipped browser test would pass a gate that
never signed in, so they fail.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

BROWSER_VARIABLE = "MOBILE_SSO_BROWSER"
# Debian's chromium package: the browser CI installs (`make browser`, apt-get).
DEBIAN_CHROMIUM = "/usr/bin/chromium"
# Names of Chrome and Chromium on PATH: Debian, Ubuntu, Fedora, Arch, Homebrew's casks.
ON_PATH = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MACOS_APPLICATIONS = (
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
)
_NOT_CI = ("", "0", "false", "no")


@dataclass(frozen=True)
class BrowserSearch:
    """The browser found (`path`), or where none was (`looked_at`) and why (`reason`)."""

    path: str | None
    looked_at: tuple[str, ...]
    reason: str = ""


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_browser(
    *,
    platform: str = sys.platform,
    environ: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] | None = None,
    is_executable: Callable[[str], bool] = _is_executable,
) -> BrowserSearch:
    """MOBILE_SSO_BROWSER when set (and nothing else), else the first executable of
    /usr/bin/chromium, the ON_PATH names, and on macOS the applications of Google Chrome
    and Chromium."""
    environ = os.environ if environ is None else environ
    lookup = which or functools.partial(shutil.which, path=environ.get("PATH"))
    chosen = environ.get(BROWSER_VARIABLE, "")
    if chosen:
        named = (f"{BROWSER_VARIABLE}={chosen}",)
        if is_executable(chosen):
            return BrowserSearch(chosen, named)
        return BrowserSearch(None, named, f"{BROWSER_VARIABLE}={chosen} is not an executable file")
    looked_at: tuple[str, ...] = (DEBIAN_CHROMIUM, *(f"{name} on PATH" for name in ON_PATH))
    candidates: list[str | None] = [DEBIAN_CHROMIUM, *(lookup(name) for name in ON_PATH)]
    if platform == "darwin":
        looked_at += MACOS_APPLICATIONS
        candidates += MACOS_APPLICATIONS
    for candidate in candidates:
        if candidate is not None and is_executable(candidate):
            return BrowserSearch(candidate, looked_at)
    return BrowserSearch(
        None,
        looked_at,
        f"no Chrome or Chromium found (looked at: {', '.join(looked_at)}); install one "
        "(`make browser` does with apt-get on Debian and Ubuntu) or set "
        f"{BROWSER_VARIABLE} to its executable",
    )


def in_ci(environ: Mapping[str, str]) -> bool:
    """Whether the variable CI says this is a CI run (GitHub Actions and .ci/run set it)."""
    return environ.get("CI", "").strip().lower() not in _NOT_CI


def require_browser(search: BrowserSearch, environ: Mapping[str, str] | None = None) -> str:
    """The browser's path; without one the calling test skips, or in CI fails."""
    # Imported here: `make browser` runs this module with the system Python, without pytest.
    import pytest  # noqa: PLC0415

    if search.path is None:
        if in_ci(os.environ if environ is None else environ):
            pytest.fail(
                f"CI is set, so the browser tests fail instead of skipping: {search.reason}"
            )
        pytest.skip(f"browser tests skipped: {search.reason}")
    return search.path


def main() -> NoReturn:
    search = find_browser()
    if search.path is None:
        print(search.reason, file=sys.stderr)
        sys.exit(1)
    print(search.path)
    sys.exit(0)


if __name__ == "__main__":
    main()
