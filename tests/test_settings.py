"""Settings: defaults, toolfoundry.toml, TOOLFOUNDRY_* variables; invalid files fail with the reason."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from toolfoundry import settings as settings_mod
from toolfoundry.errors import UsageError

from conftest import write


def test_the_default_toml_parses_and_every_commented_default_matches_the_code(tmp_path: Path) -> None:
    uncommented = "\n".join(line[2:] if line.startswith("# ") and " = " in line else line
                            for line in settings_mod.DEFAULT_TOML.splitlines())
    write(tmp_path / "toolfoundry.toml", uncommented)
    tomllib.loads(uncommented)
    assert settings_mod.load(tmp_path, {}, user="u") == settings_mod.Settings(home=tmp_path.absolute(), user="u")


def test_file_then_environment_precedence(tmp_path: Path) -> None:
    write(tmp_path / "toolfoundry.toml", '[sandbox]\npython = "/opt/py"\n[limits.test]\nwall_seconds = 3\n'
                                         '[policy]\nauto_approve_pure = false\n')
    s = settings_mod.load(tmp_path, {}, user="u")
    assert s.sandbox.python == "/opt/py" and s.test_limits.wall_seconds == 3.0 and not s.policy.auto_approve_pure
    s = settings_mod.load(tmp_path, {"TOOLFOUNDRY_SANDBOX_PYTHON": "/usr/bin/python3", "TOOLFOUNDRY_USER": "eve"})
    assert s.sandbox.python == "/usr/bin/python3" and s.user == "eve"
    assert settings_mod.default_home({"TOOLFOUNDRY_HOME": "/x"}) == Path("/x")
    assert settings_mod.default_home({}) == Path(".toolfoundry")


@pytest.mark.parametrize(("text", "message"), [
    ("[policy]\nauto_approve_pure = 1\n", "must be bool"),
    ("[policy]\nbogus = true\n", "unknown setting 'bogus'"),
    ("[limits.test]\nmemory_mb = true\n", "must be int"),
    ("[nonsense]\n", "unknown section"),
    ("[policy\n", "not valid TOML"),
])
def test_an_invalid_config_fails_with_the_file_and_reason(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "toolfoundry.toml", text)
    with pytest.raises(UsageError, match=message) as info:
        settings_mod.load(tmp_path, {}, user="u")
    assert "toolfoundry.toml" in str(info.value)
