"""Fakes shipped with toolfoundry, for our tests and for yours: real wire protocols on loopback, so code under
test runs unchanged.

* ``FakeOpenAIServer`` and ``Reply`` (``fake_openai.py``) — a loopback OpenAI-compatible server with scripted
  replies;
* ``ScriptedModel`` (from ``toolfoundry.models.scripted``) — an in-process model replaying responses.

Nothing here loads an SDK at import time. None of it is used by toolfoundry itself.
"""

from toolfoundry.models.scripted import ScriptedModel
from toolfoundry.testing.fake_openai import FakeOpenAIServer, Reply

__all__ = ["FakeOpenAIServer", "Reply", "ScriptedModel"]
