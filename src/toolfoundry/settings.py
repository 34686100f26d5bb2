"""Settings: built once at the edge (CLI or the embedding app), then passed down explicitly.

Precedence, lowest to highest: built-in defaults → ``<home>/toolfoundry.toml`` → ``TOOLFOUNDRY_*``
environment variables → command-line flags. This is the only module that reads ``os.environ``, and
only inside :func:`load` (the CLI hands it the environment). It owns no behaviour beyond parsing;
the commented default ``toolfoundry.toml`` that ``init`` writes is in ``defaults.py`` (``DEFAULT_TOML``).
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolfoundry.defaults import DEFAULT_TOML as DEFAULT_TOML  # the default file, re-exported for init
from toolfoundry.errors import UsageError
from toolfoundry.forge import settings as _forge_settings
from toolfoundry.forge.settings import ForgeSettings
from toolfoundry.models.settings import GenerationSettings
from toolfoundry.pipeline.settings import ClusterSettings, PipelineSettings
from toolfoundry.sandbox.settings import PoolSettings, SandboxSettings
from toolfoundry.sandbox.types import Limits
from toolfoundry.stages.checks import settings as _checks_file
from toolfoundry.stages.checks.settings import ChecksSettings
from toolfoundry.stages.policy import file as _policy_file
from toolfoundry.stages.policy.settings import PolicySettings
from toolfoundry.store.settings import DatabaseSettings

CONFIG_NAME = "toolfoundry.toml"


MODEL_ENV = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")
"""Environment variables handed to model backends (and only to them)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything a foundry needs to run, resolved."""

    home: Path
    """The foundry home directory."""
    user: str = "unknown"
    """Who is acting: the requester of new proposals, the reviewer with `review approve`."""
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    """How the sandbox is started."""
    test_limits: Limits = field(default_factory=Limits)
    """Limits for running tests and examples of a candidate."""
    call_limits: Limits = field(default_factory=lambda: Limits(wall_seconds=30.0, cpu_seconds=20))
    """Limits for one call of a deployed tool."""
    policy: PolicySettings = field(default_factory=PolicySettings)
    """The policy."""
    pool: PoolSettings = field(default_factory=PoolSettings)
    """Warm sandboxes for calls of deployed tools."""
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    """Model-driven generation and the reference agent."""
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    """What this node of a cluster does (``[cluster]``; only with a PostgreSQL ``[database] url``)."""
    """Where requests run, and how many a process runs at once."""
    checks: ChecksSettings = field(default_factory=ChecksSettings)
    """Which advisory findings of the static checks block (``[checks] blocking``)."""
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    """Where the ledger, registry and audit log live: the home's SQLite file, or PostgreSQL (``[database] url``)."""
    model_env: dict[str, str] = field(default_factory=dict, repr=False)
    """The MODEL_ENV variables that were set, for the model backends; never logged."""
    crash_after: str | None = None
    """Fault injection for the durability tests: SIGKILL this process right after the named point."""
    forge: ForgeSettings = field(default_factory=ForgeSettings)
    """Where the tool repository lives (a local bare repository, or GitHub) and who approves there."""
    mcp_token: str | None = field(default=None, repr=False)
    """``$TOOLFOUNDRY_MCP_TOKEN``: the bearer token `serve --transport http` requires (else ``<home>/mcp-token``)."""
    token: str | None = field(default=None, repr=False)
    """``$TOOLFOUNDRY_TOKEN``: a principal's token; the CLI then acts as that principal, with its scopes."""
    ssh_auth_sock: str | None = None
    """``$SSH_AUTH_SOCK``: the ssh-agent a reviewer's approval may be signed through."""

    @property
    def repo(self) -> Path:
        """The bare git repository of tools."""
        return self.home / "tools.git"

    @property
    def db(self) -> Path:
        """The foundry's own SQLite database (registry, requests, audit log)."""
        return self.home / "foundry.db"

    @property
    def dbos_db(self) -> Path:
        """DBOS's system database (workflow checkpoints) on one machine."""
        return self.home / "dbos.sqlite"

    @property
    def system_database_url(self) -> str:
        """Where DBOS keeps its checkpoints and queues: the home's SQLite file, or the cluster's database
        (``[database] url``; DBOS's tables in its ``dbos`` schema beside toolfoundry's)."""
        return self.database.url or f"sqlite:///{self.dbos_db}"

    @property
    def queued(self) -> bool:
        """True when commands only enqueue their requests, for ``toolfoundry worker`` processes to run."""
        return self.pipeline.run == "queue" or (self.pipeline.run == "auto" and self.database.postgres)


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$TOOLFOUNDRY_HOME`` if set (in ``environ``, default the process environment), else ``./.toolfoundry``."""
    env = os.environ if environ is None else environ
    return Path(env.get("TOOLFOUNDRY_HOME") or ".toolfoundry")


def _merge(cls: type[Any], base: Any, values: Mapping[str, Any], where: str) -> Any:
    """A copy of dataclass ``base`` with ``values`` applied; unknown keys or wrong types → UsageError."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    updates: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise UsageError(f"{where}: unknown setting {key!r} (known: {', '.join(sorted(known))})")
        current = getattr(base, key)
        expected = type(current)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise UsageError(f"{where}: {key} must be {expected.__name__}, got {value!r}")
        updates[key] = value
    return dataclasses.replace(base, **updates)


def load(home: Path, environ: Mapping[str, str] | None = None, *, user: str | None = None) -> Settings:
    """Resolve settings for ``home`` from its toolfoundry.toml, the environment and explicit values."""
    env = dict(os.environ if environ is None else environ)
    settings = Settings(home=home.absolute(), user=user or env.get("TOOLFOUNDRY_USER") or _login())
    path = home / CONFIG_NAME
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: not valid TOML: {exc}") from exc
        except RecursionError:  # tomllib recurses once a level of nested arrays or tables
            raise UsageError(f"{path}: nested too deeply to be settings") from None
        except OSError as exc:
            raise UsageError(f"{path}: cannot read it: {exc.strerror}") from None
        settings = _apply_file(settings, data, str(path), text)
    sandbox = settings.sandbox
    if env.get("TOOLFOUNDRY_SANDBOX_PYTHON"):
        sandbox = dataclasses.replace(sandbox, python=env["TOOLFOUNDRY_SANDBOX_PYTHON"])
    if env.get("TOOLFOUNDRY_BWRAP"):
        sandbox = dataclasses.replace(sandbox, bwrap=env["TOOLFOUNDRY_BWRAP"])
    generation = settings.generation
    if env.get("TOOLFOUNDRY_MODEL"):
        generation = dataclasses.replace(generation, model=env["TOOLFOUNDRY_MODEL"])
    database = settings.database
    if env.get("TOOLFOUNDRY_DATABASE_URL"):
        database = dataclasses.replace(database, url=env["TOOLFOUNDRY_DATABASE_URL"]).check("$TOOLFOUNDRY_DATABASE_URL")
    return dataclasses.replace(settings, sandbox=sandbox, generation=generation, database=database,
                               model_env={k: env[k] for k in MODEL_ENV if env.get(k)},
                               crash_after=env.get("TOOLFOUNDRY_CRASH_AFTER") or None,
                               forge=_forge_settings.with_environment(settings.forge, env),
                               mcp_token=env.get("TOOLFOUNDRY_MCP_TOKEN") or None,
                               token=env.get("TOOLFOUNDRY_TOKEN") or None,
                               ssh_auth_sock=env.get("SSH_AUTH_SOCK") or None)


def _apply_file(settings: Settings, data: Mapping[str, Any], where: str, text: str | None = None) -> Settings:
    """Apply the sections of a parsed toolfoundry.toml (``text``, the raw file, gives errors line numbers)."""
    unknown = set(data) - {"policy", "sandbox", "limits", "generation", "pool", "pipeline", "checks", "forge",
                         "database", "cluster"}
    if unknown:
        raise UsageError(f"{where}: unknown section(s): {', '.join(sorted(unknown))}")
    policy_values, rules = _policy_file.parse(data.get("policy", {}), where=where, text=text)
    policy = _merge(PolicySettings, settings.policy, policy_values, f"{where} [policy]")
    policy = dataclasses.replace(policy, rules=rules)
    sandbox = _merge(SandboxSettings, settings.sandbox, data.get("sandbox", {}), f"{where} [sandbox]")
    limits = data.get("limits", {})
    if set(limits) - {"test", "call"}:
        raise UsageError(f"{where}: [limits] has only 'test' and 'call' tables")
    test = _merge(Limits, settings.test_limits, limits.get("test", {}), f"{where} [limits.test]")
    call = _merge(Limits, settings.call_limits, limits.get("call", {}), f"{where} [limits.call]")
    generation = _merge(GenerationSettings, settings.generation, data.get("generation", {}),
                        f"{where} [generation]")
    pool = _merge(PoolSettings, settings.pool, data.get("pool", {}), f"{where} [pool]")
    pipeline = _merge(PipelineSettings, settings.pipeline, data.get("pipeline", {}), f"{where} [pipeline]")
    if pipeline.concurrency < 1 or pipeline.poll_seconds <= 0 or pipeline.run not in ("auto", "here", "queue"):
        raise UsageError(f"{where} [pipeline]: concurrency must be at least 1, poll_seconds above 0, and run"
                         f" 'auto', 'here' or 'queue'")
    cluster = _merge(ClusterSettings, settings.cluster, data.get("cluster", {}), f"{where} [cluster]").check(
        f"{where} [cluster]")
    checks = _checks_file.parse(data.get("checks", {}), where=where)
    database = _merge(DatabaseSettings, settings.database, data.get("database", {}),
                      f"{where} [database]").check(f"{where} [database]")
    forge = _forge_settings.parse(data.get("forge", {}), settings.forge, f"{where} [forge]")
    return dataclasses.replace(settings, policy=policy, sandbox=sandbox, test_limits=test, call_limits=call,
                               generation=generation, pool=pool, pipeline=pipeline, checks=checks, forge=forge,
                               database=database, cluster=cluster)


def _login() -> str:
    """The name of the person running toolfoundry, for the audit log."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"
