"""Fakes shipped with toolfoundry, for our tests and for yours: real wire protocols on loopback, so code under
test runs unchanged.

* ``FakeOpenAIServer`` and ``Reply`` (``fake_openai.py``) — a loopback OpenAI-compatible server with scripted
  replies;
* ``FakeGitHub`` (``github.py``) — a loopback stand-in for the GitHub REST endpoints a pull-request workflow
  uses, over real bare repositories, shaped so that githubkit's models parse its answers;
* ``GitHttpServer`` (``git_http.py``) — ``git http-backend`` on loopback with token auth, serving the same
  repositories to ``git clone``/``fetch``/``push``; ``git_client_env`` is how a client passes its token;
* ``ScriptedModel`` (from ``toolfoundry.models.scripted``) — an in-process model replaying responses.

Nothing here loads an SDK at import time (the stand-ins use the standard library only). None of it is used by
toolfoundry itself.
"""

from toolfoundry.models.scripted import ScriptedModel
from toolfoundry.testing.fake_openai import FakeOpenAIServer, Reply
from toolfoundry.testing.git_http import GitHttpServer
from toolfoundry.testing.git_http import client_env as git_client_env
from toolfoundry.testing.github import FakeGitHub, LoggedRequest

__all__ = ["FakeGitHub", "FakeOpenAIServer", "GitHttpServer", "LoggedRequest", "Reply", "ScriptedModel",
           "git_client_env"]
