"""Which hosts a tool's egress proxy allows: the rules made from its approved ``net_hosts``.

An entry ``name`` allows that host on ports 80 and 443; ``name:port`` allows exactly that port. Names
compare case-insensitively (a trailing dot is ignored); there are **no wildcards** (``*.example.org``
is rejected as an entry). IP literals are allowed only when listed. :func:`is_public` says whether an
address may be reached at all when it was only named (not listed), which keeps DNS rebinding and SSRF
out of the host's own network. No I/O.
"""

from __future__ import annotations

import ipaddress
import re

from toolfoundry.errors import UsageError

DEFAULT_PORTS = (80, 443)
_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")

Address = tuple[int, tuple[str, int]]
"""A place to connect to: (address family, (address, port))."""


def normalise_host(host: str) -> str:
    """Lowercase, brackets and a trailing dot removed; IP literals in canonical form."""
    host = host.strip().removeprefix("[").removesuffix("]").lower().rstrip(".")
    ip = ip_of(host)
    return str(ip) if ip is not None else host


def split_authority(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 literal → (normalised host, port or None)."""
    if text.startswith("["):
        inside, bracket, after = text[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValueError(f"bad authority {text!r}")
        host, port_text = inside, after[1:] if after else None
    elif text.count(":") > 1:
        host, port_text = text, None
    else:
        host, colon, port_text = text.partition(":")
        port_text = port_text if colon else None
    host = normalise_host(host)
    if not (ip_of(host) is not None or _NAME.fullmatch(host)):
        raise ValueError(f"bad host {host!r}")
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad port {port_text!r}")
    return host, int(port_text)


class Rules:
    """The (host, port) pairs a tool may reach, built from its approved ``net_hosts``."""

    def __init__(self, entries: tuple[str, ...]) -> None:
        pairs: set[tuple[str, int]] = set()
        for entry in entries:
            if "*" in entry:
                raise UsageError(f"net_hosts entry {entry!r}: wildcards are not supported, list each host")
            try:
                host, port = split_authority(entry.strip())
            except ValueError as exc:
                raise UsageError(f"net_hosts entry {entry!r}: {exc}") from None
            pairs.update((host, p) for p in ((port,) if port else DEFAULT_PORTS))
        self.pairs = frozenset(pairs)

    def allows(self, host: str, port: int) -> bool:
        """True when ``host`` (any spelling) on ``port`` is listed."""
        return (normalise_host(host), port) in self.pairs

    def why_not(self, host: str, port: int) -> str:
        """The one-line reason a refused (host, port) is refused."""
        if any(h == host for h, _ in self.pairs):
            return f"port {port} of {host} not in this tool's approved net_hosts"
        return f"host not in this tool's approved net_hosts: {host}"


def ip_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
