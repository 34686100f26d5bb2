"""The default ``toolfoundry.toml``: every setting with its default value, commented out, that ``init`` writes.

Owns that text only, section by section in the order a person reads the file; the ``[forge]`` section is
the forge's own (``forge/settings.py``) and is appended. It does not parse anything: ``settings.py`` reads
the file and each package's settings module owns its section's dataclass. A new setting gets its
commented default here, beside the field on ``Settings`` and its parsing in ``settings._apply_file``.
"""

from __future__ import annotations

from toolfoundry.forge import settings as _forge_settings

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
# Candidates generated per request before giving up, and the token budget across all of them (checked
# before each model call: the last reply may go past it by up to max_tokens).
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
