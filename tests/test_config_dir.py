"""Where `--env NAME` finds NAME.yaml: --config-dir, then MOBILE_SSO_CONFIG_DIR, then
./config, then the repository's config/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mobile_sso.cli import app
from mobile_sso.config import (
    CONFIG_DIR,
    CONFIG_DIR_VARIABLE,
    ConfigError,
    find_config_dir,
    load_config,
)
from tests.conftest import REPO

runner = CliRunner()


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current directory without config/, and no MOBILE_SSO_CONFIG_DIR."""
    monkeypatch.delenv(CONFIG_DIR_VARIABLE, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def config_dir_with(directory: Path, **files: str) -> Path:
    """`directory` holding copies of the repository's example configs, under new names."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, example in files.items():
        shutil.copy(REPO / "config" / f"{example}.yaml", directory / f"{name}.yaml")
    return directory


def test_the_option_comes_before_the_variable_and_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    search = find_config_dir(
        tmp_path / "given", environ={CONFIG_DIR_VARIABLE: str(tmp_path / "named")}, cwd=tmp_path
    )
    assert search.directory == tmp_path / "given"
    assert search.searched == (f"{tmp_path / 'given'} (--config-dir)",)


def test_the_variable_comes_before_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    search = find_config_dir(environ={CONFIG_DIR_VARIABLE: str(tmp_path / "named")}, cwd=tmp_path)
    assert search.directory == tmp_path / "named"
    assert search.searched == (f"{tmp_path / 'named'} ({CONFIG_DIR_VARIABLE})",)


def test_an_empty_variable_names_no_directory(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    search = find_config_dir(environ={CONFIG_DIR_VARIABLE: ""}, cwd=tmp_path)
    assert search.directory == tmp_path / "config"


def test_the_current_directorys_config_comes_before_the_repositorys(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    search = find_config_dir(environ={}, cwd=tmp_path)
    assert search.directory == tmp_path / "config"
    assert search.searched == (f"{tmp_path / 'config'} (./config)",)


def test_without_a_config_directory_here_the_repositorys_is_used(tmp_path: Path) -> None:
    search = find_config_dir(environ={}, cwd=tmp_path)
    assert search.directory == CONFIG_DIR == REPO / "config"
    assert search.searched == (
        f"{tmp_path / 'config'} (./config: no such directory)",
        f"{CONFIG_DIR} (the repository's config/)",
    )


def test_load_config_reads_the_directory_the_variable_names(
    elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = config_dir_with(tmp_path / "named", staging="example-multitenant")
    monkeypatch.setenv(CONFIG_DIR_VARIABLE, str(named))
    assert [t.idp_name for t in load_config("staging").entra] == [
        "Contoso",
        "Fabrikam",
        "Northwind",
    ]


def test_load_config_reads_config_in_the_current_directory(elsewhere: Path) -> None:
    config_dir_with(elsewhere / "config", staging="example-multitenant")
    assert len(load_config("staging").entra) == 3


def test_load_config_falls_back_to_the_repositorys_config(elsewhere: Path) -> None:
    assert load_config("example").stack_name


def test_a_missing_environment_names_the_directories_searched_and_how_to_choose(
    elsewhere: Path,
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("staging")
    [problem] = caught.value.problems
    assert caught.value.path == str(CONFIG_DIR / "staging.yaml")
    assert "no such environment file; environments here: ['example', " in problem
    assert (
        f"searched: {elsewhere / 'config'} (./config: no such directory); {CONFIG_DIR}" in problem
    )
    assert f"--config-dir DIR or the {CONFIG_DIR_VARIABLE} environment variable" in problem


def test_a_named_directory_that_does_not_exist_is_said_to_be_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("staging", tmp_path / "nowhere")
    assert f"{tmp_path / 'nowhere'} is not a directory; searched: " in caught.value.problems[0]


# Each command that loads the config by --env, with what else it needs to get that far.
COMMANDS = {
    "doctor": ["doctor"],
    "try-signin": ["try-signin"],
    "rotate-certificate": ["rotate-certificate"],
    "bootstrap-entra": ["bootstrap-entra", "--dry-run"],
    "plan": ["plan"],
    "check-response": ["check-response", "capture.har"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_reads_the_environment_from_config_dir(
    command: str, elsewhere: Path, tmp_path: Path
) -> None:
    given = config_dir_with(tmp_path / "given")
    result = runner.invoke(app, [*COMMANDS[command], "--env", "prod", "--config-dir", str(given)])
    assert result.exit_code == 2, result.output
    assert "(--config-dir)" in result.output


def test_bootstrap_entra_uses_the_file_in_config_dir(elsewhere: Path, tmp_path: Path) -> None:
    given = config_dir_with(tmp_path / "given", acme="example-multitenant")
    args = ["bootstrap-entra", "--env", "acme", "--config-dir", str(given), "--dry-run"]
    result = runner.invoke(app, args)
    # The multi-tenant example needs --idp: proof that acme.yaml was read.
    assert result.exit_code == 2
    assert "Contoso, Fabrikam, Northwind" in result.output


def test_config_and_config_dir_together_are_refused(tmp_path: Path) -> None:
    config = config_dir_with(tmp_path, acme="example") / "acme.yaml"
    args = ["doctor", "--env", "acme", "--config", str(config), "--config-dir", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "not both" in result.output


def test_check_response_config_dir_needs_env(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check-response", "capture.har", "--config-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--config-dir needs --env" in result.output


def test_the_suite_drops_the_variable_by_its_name() -> None:
    assert (
        f'os.environ.pop("{CONFIG_DIR_VARIABLE}", None)'
        in (REPO / "tests" / "__init__.py").read_text()
    )
