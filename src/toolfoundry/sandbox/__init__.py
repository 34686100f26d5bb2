"""The OS sandbox that untrusted tool code runs in, both when it is tested and when it is called.

This package owns isolation and nothing else: ``bwrap.py`` (:class:`BwrapSandbox`, what goes into a
run and the fail-closed check), ``launcher.py`` (the bwrap command line, uid drop, pidfd wall-clock
wait, capped output), ``protocol.py`` (the host half of the nonce-line protocol), and ``runner.py``
(the trusted in-sandbox harness, stdlib only). It never judges results: that is ``oracle.py``.
"""

from toolfoundry.sandbox.bwrap import BwrapSandbox

__all__ = ["BwrapSandbox"]
