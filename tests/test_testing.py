"""The fakes shipped in toolfoundry.testing behave like the real wire protocol, and stay light to import."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from toolfoundry.models import ModelSettings
from toolfoundry.models.openai import OpenAIModel
from toolfoundry.models.types import Message
from toolfoundry.testing import FakeOpenAIServer, Reply


def post(url: str, body: object) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # loopback only
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_openai_sdk_lists_the_fake_model() -> None:
    from openai import OpenAI

    with FakeOpenAIServer(model="fake-7b") as server:
        client = OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        assert [m.id for m in client.models.list()] == ["fake-7b"]


def test_an_exhausted_script_answers_500_saying_so() -> None:
    with FakeOpenAIServer([Reply.text("only one")]) as server:
        assert post(server.base_url + "/chat/completions", {"messages": []})[0] == 200
        status, body = post(server.base_url + "/chat/completions", {"messages": []})
    assert status == 500
    assert "script exhausted after 1 responses" in body["error"]["message"]  # type: ignore[index]
    assert len(server.requests) == 2


def test_a_default_reply_answers_forever_once_the_script_is_done() -> None:
    with FakeOpenAIServer([Reply.text("first")], default=Reply.text("again")) as server:
        model = OpenAIModel("m", base_url=server.base_url, api_key="k", settings=ModelSettings())
        answers = [model.complete([Message(role="user", content="?")]).message.content for _ in range(3)]
    assert answers == ["first", "again", "again"]
    assert server.remaining == 0


def test_prose_wrapped_code_reply_has_text_around_a_fence() -> None:
    reply = Reply.code("def add(a, b):\n    return a + b\n")
    assert reply.content == ("Here is the code:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\n"
                             "Let me know if you need changes.")


def test_error_replies_carry_retry_after_and_an_openai_error_body() -> None:
    with FakeOpenAIServer([Reply.error(429, retry_after=2, message="slow down")]) as server:
        request = urllib.request.Request(server.base_url + "/chat/completions", data=b"{}")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=5)
    assert err.value.code == 429 and err.value.headers["Retry-After"] == "2"
    assert json.loads(err.value.read())["error"]["message"] == "slow down"


def test_streaming_requests_are_refused_clearly() -> None:
    with FakeOpenAIServer([Reply.text("x")]) as server:
        status, body = post(server.base_url + "/chat/completions", {"messages": [], "stream": True})
    assert status == 400 and "does not stream" in body["error"]["message"]  # type: ignore[index]
    assert server.remaining == 1


def test_the_urls_need_a_started_server() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = FakeOpenAIServer().base_url


def test_importing_the_fakes_does_not_import_an_sdk() -> None:
    code = "import sys, toolfoundry.testing; print(sorted(m for m in ('openai', 'anthropic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
