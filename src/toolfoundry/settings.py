"""Settings: built once at the edge (CLI or the embedding app), then passed down explicitly.

Precedence, lowest to highest: built-in defaults → ``<home>/toolfoundry.toml`` → ``TOOLFOUNDRY_*``
environment variables → command-line flags. This is the only module that reads ``os.environ``, and
only inside :func:`load` (the CLI hands it the environment). It owns no behaviour beyond parsing.
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


DEFAULT_TOML = """\
# toolfoundry configuration. Every value below is the default; uncomment to change it.
# Precedence: these values < TOOLFOUNDRY_* environment variables < command-line flags.

[policy]
# A tool that passes every stage and asks for no permission is merged without a human.
# auto_approve_pure = true
# A tool that asks for a network host or an environment variable waits for a human reviewer.
# human_for_permissions = true
# Reject candidates that come with no example at all (visible or held out).
# require_examples = false
# Where a candidate goes when nothing routed it (only when auto_approve_pure is false): human or deny.
# default_route = "human"
# The model reviewer agents use (PROVIDER:NAME); empty means the [generation] model.
# reviewer_model = ""
# What a human approval must be: "any" (an SSH signature, or on a GitHub forge an approving review by a
# principal linked to that login) or "signed" (an SSH signature only). A rule's approval can tighten it.
# approval = "any"
#
# Rules, checked in order after failed validation (always deny) and before the settings above; the first
# whose conditions ("when", all must hold) match decides. Conditions: net_hosts, env_vars, pure,
# adds_permissions, signature_changed, new_tool (true/false); imports_any (top-level modules);
# lines_over, examples_min (numbers); source ("propose"/"request"); name_matches (a glob).
# Routes: auto (needs examples_min >= 1), human, deny, reviewers (agents; quorum approvals among roles
# security/correctness/interface, each within timeout_seconds; then: "human" or "deny" when the quorum
# is not reached; regenerate lets requested changes start a new generation attempt). A human or
# reviewers rule may name a reviewer_role: the person who approves must be a principal holding that
# role (`toolfoundry principals add NAME --role reviewer --role ROLE`), and an approval kind ("signed":
# only an SSH-signed approval counts, not a GitHub review). Examples:
## [[policy.rules]]
## name = "network-needs-security-lead"
## when = { net_hosts = true }
## route = "human"
## reviewer_role = "security-lead"
## approval = "signed"
## [[policy.rules]]
## name = "deny-dangerous-imports"
## when = { imports_any = ["ctypes", "pickle"] }
## route = "deny"
## [[policy.rules]]
## name = "big-tools-get-reviewers"
## when = { lines_over = 150 }
## route = "reviewers"
## quorum = 2
## roles = ["security", "correctness"]
## timeout_seconds = 120.0
## then = "human"

[sandbox]
# bubblewrap executable (Debian package: bubblewrap).
# bwrap = "bwrap"
# Interpreter used inside the sandbox. It must be readable by the sandbox uid: a Python under /root
# (mode 700, e.g. pyenv) is not. TOOLFOUNDRY_SANDBOX_PYTHON overrides it.
# python = "/usr/bin/python3"
# The non-root uid/gid the sandbox runs as when toolfoundry itself runs as root: a dedicated id no
# account or service uses (not nobody/65534), so RLIMIT_NPROC counts only sandbox processes.
# uid = 64122
# gid = 64122
# Where the sandbox interpreter finds pytest (Debian package: python3-pytest).
# pytest_path = "/usr/lib/python3/dist-packages"
# Validate candidates in warm sandboxes: pytest imported once per sandbox, each candidate in a fresh
# worker forked for it, runs with held-out examples in a sandbox of their own (false: a cold sandbox
# per run). A warm validation sandbox unused for warm_idle_seconds is stopped.
# warm = true
# warm_idle_seconds = 300.0

[generation]
# Default model for `toolfoundry request` and `run`, as PROVIDER:NAME (openai:..., anthropic:...,
# scripted:FILE). TOOLFOUNDRY_MODEL and --model override it. The openai backend reads OPENAI_BASE_URL
# and OPENAI_API_KEY, so any OpenAI-compatible server works (vLLM, Ollama, llama.cpp).
# model = ""
# Candidates generated per request before giving up, and the token budget across all of them.
# max_attempts = 3
# token_budget = 60000
# Model turns the reference agent may take for one task.
# agent_max_steps = 12
# Per-call timeout and retries (429, 5xx, timeouts; Retry-After is honoured).
# timeout_seconds = 60.0
# max_retries = 4
# Completion tokens per generation call (0: the backend's default).
# max_tokens = 0
# Save every model exchange as JSON in this directory (as --record DIR does); replay with scripted:DIR.
# record = ""
# How the reference agent offers tools: "native" function calling, "text" (a JSON block in the reply),
# or "auto" (text for models without native calling, and when a model writes its calls as text).
# tool_protocol = "auto"
# The local backend (--model local:qwen2.5-coder-1.5b or local:/path/model.gguf) starts an
# OpenAI-compatible server on a free 127.0.0.1 port: llama-cpp-python's, or server_command
# (placeholders {python} {model} {port} {n_ctx} {threads} {chat_format}).
# local_python = ""
# server_command = ""
# local_models_dir = ""
# local_threads = 1
# local_n_ctx = 4096
# local_max_tokens = 1024
# local_temperature = 0.2
# local_seed = 42
# local_timeout_seconds = 600.0
# local_chat_format = ""
# Prices in US dollars per million tokens, to record each request's cost (0 means unknown).
# price_per_mtok_in = 0.0
# price_per_mtok_out = 0.0

[limits.test]
# Limits for validating a candidate (tests + examples).
# wall_seconds = 10.0
# cpu_seconds = 5
# memory_mb = 512
# processes = 32
# file_mb = 16
# scratch_mb = 64
# output_kb = 1024
# open_files = 256

[limits.call]
# Limits for one call of a deployed tool.
# wall_seconds = 30.0
# cpu_seconds = 20
# memory_mb = 512

[pipeline]
# How many requests one process validates at once (default: the number of cores), and how often, in
# seconds, it looks for a request to start. For example:
## concurrency = 4
# poll_seconds = 0.05
# Where a command's requests run: "here" (in its own process), "queue" (only enqueued, for
# `toolfoundry worker` processes to run), or "auto": "here" on SQLite, "queue" on PostgreSQL.
# run = "auto"

[cluster]
# Only with a PostgreSQL [database] url (see "Running a cluster" in the README).
# This node owns tools.git and runs the merges; exactly one node of a cluster should.
# forge_node = true
# A node that is not the forge node reads tool code from the forge node's tools.git (a URL or path):
## forge_url = "ssh://forge.internal/srv/toolfoundry/tools.git"
# forge_url = ""
# Validations one worker runs at once (default: the number of cores), and model calls started per
# minute across the cluster (0: no limit).
## sandbox_slots = 2
# model_calls_per_minute = 0
# A process checks its liveness lock every fence_seconds and exits when it has lost it; another
# recovers its work once the lock has been free for grace_seconds.
# fence_seconds = 0.5
# grace_seconds = 2.0

[checks]
# Findings of the static checks either block (the contract, dynamic code, forbidden imports and
# attributes, description poisoning, code that cannot compile, high-risk bandit findings) or advise
# (mypy, style, low-risk bandit such as B324 md5-as-checksum): advisory ones are shown to reviewers and
# to the model but do not reject. List analyser families or finding-code prefixes to make them block:
# blocking = []                    # e.g. ["mypy"] or ["mypy.return-value", "bandit.B324", "ruff.F401"]

[database]
# Where the ledger, the registry and the audit log live. Empty: foundry.db in this home (SQLite, one
# machine). A PostgreSQL URL puts them, and DBOS's queues, in one database every worker shares (see
# "Running a cluster" in the README); TOOLFOUNDRY_DATABASE_URL overrides it. For example:
## url = "postgresql://toolfoundry@db.internal:5432/toolfoundry"
# url = ""
# The PostgreSQL schema of toolfoundry's tables (DBOS uses "dbos"), and the most connections one
# process opens to it.
# schema = "toolfoundry"
# pool_size = 4

[pool]
# Deployed tools are called through warm sandboxes, one trust domain per tool version.
# The most serving sandboxes per tool version; more concurrent calls of one version wait.
# size = 1
# A serving sandbox unused for this many seconds is stopped.
# idle_seconds = 300.0
""" + _forge_settings.DEFAULT_TOML


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
