"""Attacks that try to reach the network: TCP (IPv4, IPv6) and UDP to host loopback listeners, DNS,
abstract and pathname unix sockets bound on the host. Every listener must hear nothing."""

from __future__ import annotations

import json

from toolfoundry.api import Foundry

from .conftest import Canary, Listeners, attack


def test_tcp_connect_to_a_host_loopback_listener_gets_nowhere(foundry: Foundry, listeners: Listeners) -> None:
    a = attack(foundry, '''
        """Fetch."""
        import socket


        def fetch(port: int) -> str:
            """Connect to 127.0.0.1:port and say hello."""
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                conn.sendall(b"hello from the sandbox")
            return "connected"
    ''', "fetch", {"port": listeners.tcp_port})
    assert a.refused(), a.report
    assert "checks" in a.rejected_by  # socket needs a network permission
    assert listeners.contacted() == []


def test_tcp_connect_over_ipv6_loopback_gets_nowhere(foundry: Foundry, listeners: Listeners) -> None:
    port = listeners.tcp6_port or listeners.tcp_port
    a = attack(foundry, '''
        """Fetch."""
        import socket


        def fetch(port: int) -> str:
            """Connect to [::1]:port (and ::ffff:127.0.0.1) and say hello."""
            for host in ("::1", "::ffff:127.0.0.1"):
                try:
                    with socket.create_connection((host, port), timeout=2) as conn:
                        conn.sendall(b"hello")
                    return "connected to " + host
                except OSError:
                    pass
            raise ConnectionError("nothing reachable")
    ''', "fetch", {"port": port})
    assert a.refused(), a.report
    assert listeners.contacted() == []


def test_udp_sendto_a_host_loopback_listener_delivers_nothing(foundry: Foundry, listeners: Listeners) -> None:
    a = attack(foundry, '''
        """Send."""
        import socket


        def send(port: int) -> int:
            """Send datagrams to 127.0.0.1:port; return how many the kernel accepted."""
            sent = 0
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                for _ in range(20):
                    try:
                        sock.sendto(b"exfiltrated", ("127.0.0.1", port))
                        sent += 1
                    except OSError:
                        pass
            return sent
    ''', "send", {"port": listeners.udp_port})
    # in the sandbox's own network namespace a datagram may "leave" its loopback; it must never arrive here
    assert a.refused() or isinstance(a.value(), int), a.report
    assert listeners.contacted() == []


def test_dns_resolution_fails(foundry: Foundry, listeners: Listeners) -> None:
    a = attack(foundry, '''
        """Resolve."""
        import socket


        def resolve(names: list[str]) -> str:
            """getaddrinfo each name; return what resolved."""
            resolved = {}
            for name in names:
                try:
                    resolved[name] = [str(info[4]) for info in socket.getaddrinfo(name, 80)]
                except OSError as exc:
                    resolved[name] = type(exc).__name__
            return repr(resolved)
    ''', "resolve", {"names": ["example.com", "tf-canary.invalid", "pypi.org", "metadata.google.internal"]})
    text = a.value() if not a.refused() else ""
    assert "('" not in text, text  # no address came back for any name
    assert listeners.contacted() == []


def test_an_abstract_unix_socket_on_the_host_is_out_of_reach(foundry: Foundry, listeners: Listeners) -> None:
    a = attack(foundry, '''
        """Talk."""
        import socket


        def talk(name: str) -> str:
            """Connect to the abstract unix socket \\\\0name."""
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect("\\0" + name)
                sock.sendall(b"hello")
            return "connected"
    ''', "talk", {"name": str(listeners.targets()["abstract"])})
    assert a.refused() and a.case is not None and a.case.error_type in (
        "ConnectionRefusedError", "FileNotFoundError", "PermissionError"), a.report
    assert listeners.contacted() == []


def test_a_pathname_unix_socket_on_the_host_is_out_of_reach(foundry: Foundry, listeners: Listeners,
                                                           canary: Canary) -> None:
    a = attack(foundry, '''
        """Talk."""
        import socket


        def talk(path: str) -> str:
            """Connect to the unix socket at path (world-writable on the host)."""
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(path)
                sock.sendall(b"hello")
            return "connected"
    ''', "talk", {"path": listeners.unix_path})
    assert a.refused() and a.case is not None and a.case.error_type in (
        "FileNotFoundError", "PermissionError", "ConnectionRefusedError"), a.report
    assert listeners.contacted() == []
    canary.assert_untouched()


def test_sockets_of_families_other_than_unix_cannot_even_be_created(foundry: Foundry,
                                                                    listeners: Listeners) -> None:
    """seccomp layer: a tool without network hosts gets no AF_INET/AF_INET6/AF_NETLINK/AF_PACKET socket."""
    a = attack(foundry, '''
        """Sockets."""
        import json
        import socket


        def families(names: list[str]) -> str:
            """Try to create a socket of each family; return which ones worked."""
            made = {}
            for name in names:
                kind = socket.SOCK_RAW if name == "AF_PACKET" else socket.SOCK_DGRAM
                try:
                    socket.socket(getattr(socket, name), kind).close()
                    made[name] = "created"
                except OSError as exc:
                    made[name] = type(exc).__name__
            return json.dumps(made)
    ''', "families", {"names": ["AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_UNIX"]})
    made = json.loads(a.value())
    assert made["AF_UNIX"] == "created"
    assert {k: v for k, v in made.items() if k != "AF_UNIX" and v == "created"} == {}, json.dumps(made)
    assert listeners.contacted() == []
