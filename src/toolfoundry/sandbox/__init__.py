"""The OS sandbox that untrusted tool code runs in, both when it is tested and when it is called.

This package owns isolation and nothing else: ``bwrap.py`` (:class:`BwrapSandbox`, what goes into a
run and the fail-closed check), ``launcher.py`` (the bwrap command line, uid drop, pidfd wall-clock
wait, capped output, killing a jail by its pid 1), ``protocol.py`` (the host half of the nonce-line
protocol), ``runner.py`` (the trusted in-sandbox harness, stdlib only), ``seccomp.py`` and
``landlock.py`` (the filter layers), ``pool.py`` (warm sandboxes for calls), and ``netproxy.py`` /
``netfwd.py`` (egress for tools with approved network hosts: the host proxy and the in-sandbox forwarder). It never judges results: that is ``oracle.py``.
"""

from toolfoundry.sandbox.bwrap import BwrapSandbox

__all__ = ["BwrapSandbox"]
