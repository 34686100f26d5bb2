"""``[database]``: where the ledger, registry and audit log live, from toolfoundry.toml and $TOOLFOUNDRY_DATABASE_URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolfoundry.errors import UsageError
from toolfoundry.settings import load

from conftest import write


def test_the_default_is_the_homes_sqlite_file(tmp_path: Path) -> None:
    database = load(tmp_path, {}, user="u").database
    assert database.url == "" and not database.postgres and database.schema == "toolfoundry"


def test_the_file_names_postgresql_and_the_environment_overrides_it(tmp_path: Path) -> None:
    write(tmp_path / "toolfoundry.toml", '[database]\nurl = "postgresql://tf:s3cret@db:5432/foundry"\n'
                                         'schema = "team_a"\npool_size = 8\n')
    database = load(tmp_path, {}, user="u").database
    assert (database.url, database.schema, database.pool_size, database.postgres) == \
        ("postgresql://tf:s3cret@db:5432/foundry", "team_a", 8, True)
    assert "s3cret" not in repr(load(tmp_path, {}, user="u"))  # settings are logged; the password is not
    env = {"TOOLFOUNDRY_DATABASE_URL": "postgresql://tf@other/foundry"}
    assert load(tmp_path, env, user="u").database.url == "postgresql://tf@other/foundry"


@pytest.mark.parametrize(("text", "env", "message"), [
    ('[database]\nurl = "mysql://x@y/z"\n', {}, r"\[database\]: url must be a postgresql://"),
    ('[database]\nschema = "Team-A"\n', {}, r"\[database\]: schema must be a lower-case identifier"),
    ('[database]\npool_size = 0\n', {}, r"\[database\]: pool_size must be between 1 and 100"),
    ('[database]\nhost = "db"\n', {}, r"\[database\]: unknown setting 'host'"),
    ("", {"TOOLFOUNDRY_DATABASE_URL": "sqlite:///x.db"}, r"\$TOOLFOUNDRY_DATABASE_URL: url must be"),
])
def test_a_bad_database_setting_is_one_clear_usage_error(tmp_path: Path, text: str, env: dict[str, str],
                                                         message: str) -> None:
    write(tmp_path / "toolfoundry.toml", text)
    with pytest.raises(UsageError, match=message):
        load(tmp_path, env, user="u")
