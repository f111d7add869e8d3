"""Which browser the browser tests drive, and what happens without one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser import (
    BROWSER_VARIABLE,
    DEBIAN_CHROMIUM,
    MACOS_APPLICATIONS,
    BrowserSearch,
    find_browser,
    in_ci,
    require_browser,
)
from tests.conftest import REPO

MAC_CHROME, MAC_CHROMIUM = MACOS_APPLICATIONS


def on_path(**found: str) -> Callable[[str], str | None]:
    """A PATH lookup that finds the names given (`google_chrome="/opt/chrome"`)."""
    return lambda name: found.get(name.replace("-", "_"))


def executables(*paths: str) -> Callable[[str], bool]:
    return lambda path: path in paths


def test_debians_chromium_is_found_first() -> None:
    search = find_browser(
        platform="linux",
        environ={},
        which=on_path(google_chrome="/opt/google/chrome"),
        is_executable=executables(DEBIAN_CHROMIUM, "/opt/google/chrome"),
    )
    assert search.path == DEBIAN_CHROMIUM


@pytest.mark.parametrize("name", ["chromium", "chromium-browser", "google-chrome-stable"])
def test_a_chrome_or_chromium_on_path_is_found(name: str) -> None:
    search = find_browser(
        platform="linux",
        environ={},
        which=lambda asked: f"/somewhere/{asked}" if asked == name else None,
        is_executable=executables(f"/somewhere/{name}"),
    )
    assert search.path == f"/somewhere/{name}"


def test_on_macos_google_chrome_is_found_in_applications() -> None:
    search = find_browser(
        platform="darwin",
        environ={},
        which=on_path(),
        is_executable=executables(MAC_CHROME, MAC_CHROMIUM),
    )
    assert search.path == "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"


def test_on_macos_chromium_is_found_without_chrome() -> None:
    search = find_browser(
        platform="darwin", environ={}, which=on_path(), is_executable=executables(MAC_CHROMIUM)
    )
    assert search.path == "/Applications/Chromium.app/Contents/MacOS/Chromium"


def test_on_macos_a_browser_on_path_comes_before_the_applications() -> None:
    search = find_browser(
        platform="darwin",
        environ={},
        which=on_path(chromium="/opt/homebrew/bin/chromium"),
        is_executable=executables("/opt/homebrew/bin/chromium", MAC_CHROME),
    )
    assert search.path == "/opt/homebrew/bin/chromium"


def test_macos_applications_are_not_looked_for_elsewhere() -> None:
    search = find_browser(
        platform="linux", environ={}, which=on_path(), is_executable=executables(MAC_CHROME)
    )
    assert search.path is None
    assert MAC_CHROME not in search.looked_at


def test_the_variable_overrides_every_other_browser() -> None:
    search = find_browser(
        platform="linux",
        environ={BROWSER_VARIABLE: "/opt/chrome-beta/chrome"},
        which=on_path(),
        is_executable=executables(DEBIAN_CHROMIUM, "/opt/chrome-beta/chrome"),
    )
    assert search.path == "/opt/chrome-beta/chrome"


def test_a_variable_naming_no_executable_finds_nothing_else() -> None:
    search = find_browser(
        platform="linux",
        environ={BROWSER_VARIABLE: "/opt/missing"},
        which=on_path(),
        is_executable=executables(DEBIAN_CHROMIUM),
    )
    assert search.path is None
    assert search.reason == "MOBILE_SSO_BROWSER=/opt/missing is not an executable file"


def test_without_a_browser_the_reason_says_where_it_looked_and_what_to_do() -> None:
    search = find_browser(
        platform="darwin", environ={}, which=on_path(), is_executable=executables()
    )
    assert search.path is None
    assert search.reason == (
        "no Chrome or Chromium found (looked at: /usr/bin/chromium, chromium on PATH, "
        "chromium-browser on PATH, google-chrome on PATH, google-chrome-stable on PATH, "
        "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome, "
        "/Applications/Chromium.app/Contents/MacOS/Chromium); install one (`make browser` "
        "does with apt-get on Debian and Ubuntu) or set MOBILE_SSO_BROWSER to its executable"
    )


@pytest.mark.parametrize(
    ("value", "ci"),
    [(None, False), ("", False), ("false", False), ("0", False), ("true", True), ("1", True)],
)
def test_ci_is_the_variable_ci_set_to_a_true_value(value: str | None, ci: bool) -> None:
    assert in_ci({} if value is None else {"CI": value}) is ci


MISSING = BrowserSearch(None, (DEBIAN_CHROMIUM,), "no Chrome or Chromium found")


def test_a_found_browser_is_used() -> None:
    assert require_browser(BrowserSearch("/usr/bin/chromium", ()), {"CI": "true"}) == (
        "/usr/bin/chromium"
    )


def test_without_a_browser_the_browser_tests_skip_locally() -> None:
    with pytest.raises(pytest.skip.Exception, match="no Chrome or Chromium found"):
        require_browser(MISSING, {})


def test_without_a_browser_the_browser_tests_fail_in_ci() -> None:
    with pytest.raises(pytest.fail.Exception, match="CI is set, so the browser tests fail"):
        require_browser(MISSING, {"CI": "true"})


def test_the_ci_entry_point_says_it_is_ci() -> None:
    assert "\nexport CI=true\n" in (REPO / ".ci" / "run").read_text()
