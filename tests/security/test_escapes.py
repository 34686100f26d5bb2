"""Escape attempts: symlink tricks (/tmp links to host paths, /proc/self/root, /proc/1/root), raw
syscalls through ctypes (unshare, mount, setuid(0), io_uring), and the dunder-traversal escapes that
broke in-process Python sandboxes. The static checks must refuse the traversals; forced through the
sandbox anyway, they reach only the sandboxed process's own ``os`` module, and the host sees nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolfoundry.api import Foundry

from .conftest import Canary, Listeners, attack, source


def test_a_symlink_in_tmp_to_a_host_path_leads_nowhere(foundry: Foundry, canary: Canary) -> None:
    a = attack(foundry, '''
        """Link."""
        import os


        def link(secret: str, plant: str) -> str:
            """Read the host secret and write the host canary through symlinks in /tmp."""
            os.symlink(secret, "/tmp/secret")
            os.symlink(plant, "/tmp/plant")
            out = []
            try:
                with open("/tmp/secret") as handle:
                    out.append(handle.read())
            except OSError as exc:
                out.append(type(exc).__name__)
            try:
                with open("/tmp/plant", "w") as handle:
                    handle.write("planted")
                out.append("planted")
            except OSError as exc:
                out.append(type(exc).__name__)
            return ",".join(out)
    ''', "link", {"secret": str(canary.secret_file), "plant": canary.path("planted")})
    assert canary.token not in repr(a.report)
    assert a.value() in ("FileNotFoundError,FileNotFoundError", "PermissionError,PermissionError",
                         "FileNotFoundError,PermissionError", "PermissionError,FileNotFoundError"), a.value()
    canary.assert_untouched()


@pytest.mark.parametrize("prefix", ["/proc/self/root", "/proc/1/root", "/proc/thread-self/root",
                                    "/proc/self/cwd/..", "/proc/1/cwd/..", "/proc/2/root"])
def test_proc_root_links_do_not_lead_to_the_host(foundry: Foundry, canary: Canary, prefix: str) -> None:
    a = attack(foundry, '''
        """Through proc."""


        def through(paths: list[str]) -> str:
            """Read each path; return what could be read."""
            out = []
            for path in paths:
                try:
                    with open(path, "rb") as handle:
                        out.append(handle.read(4096).decode("latin-1"))
                except OSError as exc:
                    out.append(type(exc).__name__)
            return "|".join(out)
    ''', "through", {"paths": [prefix + str(canary.secret_file), prefix + str(canary.ssh_key),
                              prefix + "/etc/shadow"]})
    assert canary.token not in repr(a.report)
    assert "root:" not in repr(a.report)
    canary.assert_untouched()


SYSCALLS = '''
    """Syscalls."""
    import ctypes
    import json
    import os


    def _libc() -> ctypes.CDLL:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        return libc


    def _plant(path: str) -> str:
        try:
            with open(path, "w") as handle:
                handle.write("planted")
            return "planted"
        except OSError as exc:
            return type(exc).__name__


    def raw(what: str, plant: str) -> str:
        """Try one privileged operation straight through libc; then try to plant the canary."""
        libc = _libc()
        if what == "unshare":
            rc = libc.unshare(0x10000000 | 0x00020000 | 0x40000000)  # CLONE_NEWUSER | NEWNS | NEWNET
            if rc == 0:
                os.makedirs("/tmp/m", exist_ok=True)
                libc.mount(b"none", b"/tmp/m", b"tmpfs", 0, None)
        elif what == "mount":
            rc = libc.mount(b"none", b"/usr", b"tmpfs", 0, None)
            if rc == 0:
                return _plant("/usr/planted")
        elif what == "setuid0":
            rc = libc.setuid(0)
            rc = rc or libc.setresuid(0, 0, 0)
        elif what == "chroot":
            rc = libc.chroot(b"/tmp")
        else:  # io_uring_setup(8, params)
            params = ctypes.create_string_buffer(120)
            rc = libc.syscall(425, 8, params)
        return json.dumps({"rc": rc, "errno": ctypes.get_errno(), "uid": os.getuid(), "plant": _plant(plant)})
'''


@pytest.mark.parametrize("what", ["unshare", "mount", "setuid0", "chroot", "io_uring"])
def test_raw_privileged_syscalls_through_ctypes_are_refused(foundry: Foundry, canary: Canary, what: str) -> None:
    a = attack(foundry, SYSCALLS, "raw", {"what": what, "plant": canary.path("planted")})
    assert "checks" in a.rejected_by
    value = json.loads(a.value())
    assert value["rc"] < 0, f"{what} succeeded: {value}"  # an error, not 0 or an fd
    assert value["uid"] != 0 and value["plant"] != "planted", value
    assert not Path("/usr/planted").exists()
    canary.assert_untouched()


# ── dunder traversals ────────────────────────────────────────────────────────────────────────

ESCAPE_BODY = '''
    def _use(os_module, plant: str, secret: str) -> str:
        out = []
        try:
            fd = os_module.open(plant, os_module.O_WRONLY | os_module.O_CREAT, 0o666)
            os_module.close(fd)
            out.append("planted")
        except OSError as exc:
            out.append(type(exc).__name__)
        try:
            fd = os_module.open(secret, os_module.O_RDONLY)
            out.append(os_module.read(fd, 200).decode())
        except OSError as exc:
            out.append(type(exc).__name__)
        out.append("uid=%d" % os_module.getuid())
        return ",".join(out)
'''

TRAVERSALS = {
    "subclasses-wrap-close": '''
        def escape(plant: str, secret: str) -> str:
            """Find os._wrap_close among object's subclasses and take os from its globals."""
            for cls in ().__class__.__base__.__subclasses__():
                if cls.__name__ == "_wrap_close":
                    imp = cls.__init__.__globals__["__builtins__"]["__import__"]
                    return _use(imp("os"), plant, secret)
            return "not found"
    ''',
    "subclasses-popen": '''
        def escape(plant: str, secret: str) -> str:
            """Find subprocess.Popen among object's subclasses and take os from its module."""
            for cls in ().__class__.__mro__[-1].__subclasses__():
                if cls.__name__ == "Popen":
                    return _use(cls.__init__.__globals__["os"], plant, secret)
            for cls in ().__class__.__base__.__subclasses__():
                if cls.__name__ == "_wrap_close":
                    return _use(cls.__init__.__globals__["__builtins__"]["__import__"]("os"), plant, secret)
            return "not found"
    ''',
    "subclasses-catch-warnings": '''
        def escape(plant: str, secret: str) -> str:
            """warnings.catch_warnings()._module.__builtins__['__import__']('os')."""
            for cls in ().__class__.__base__.__subclasses__():
                if cls.__name__ == "catch_warnings":
                    imp = cls()._module.__builtins__["__import__"]
                    return _use(imp("os"), plant, secret)
            return "not found"
    ''',
    "getattr-builtins-import": '''
        def escape(plant: str, secret: str) -> str:
            """getattr(__builtins__, '__imp' + 'ort__')('os')."""
            b = __builtins__
            imp = b["__imp" + "ort__"] if isinstance(b, dict) else getattr(b, "__imp" + "ort__")
            return _use(imp("os"), plant, secret)
    ''',
    "vars": '''
        _G = vars()


        def escape(plant: str, secret: str) -> str:
            """vars() of the module → its builtins → __import__('os')."""
            b = _G["__buil" + "tins__"]
            imp = b["__imp" + "ort__"] if isinstance(b, dict) else getattr(b, "__imp" + "ort__")
            return _use(imp("os"), plant, secret)
    ''',
    "generator-frame": '''
        def _caller(box: list):
            yield box[0].gi_frame.f_back  # while it runs, a generator's frame links back to its caller


        def escape(plant: str, secret: str) -> str:
            """A running generator's gi_frame.f_back leads up to the harness's frame: its f_globals hold os."""
            box: list = []
            gen = _caller(box)
            box.append(gen)
            frame = next(gen)
            while frame is not None:
                if "os" in frame.f_globals:
                    return _use(frame.f_globals["os"], plant, secret)
                frame = frame.f_back
            return "not found"
    ''',
    "traceback-frame": '''
        def escape(plant: str, secret: str) -> str:
            """An exception's traceback: tb_frame.f_back.f_globals of the caller holds os and sys."""
            try:
                raise ValueError("x")
            except ValueError as exc:
                frame = exc.__traceback__.tb_frame
            while frame is not None:
                if "sys" in frame.f_globals:
                    return _use(frame.f_globals["sys"].modules["os"], plant, secret)
                frame = frame.f_back
            return "not found"
    ''',
}


@pytest.mark.parametrize("trick", sorted(TRAVERSALS))
def test_dunder_traversal_escapes_are_refused_by_the_checks_and_harmless_in_the_sandbox(
        foundry: Foundry, canary: Canary, listeners: Listeners, trick: str) -> None:
    code = '"""Escape."""\n' + source(ESCAPE_BODY) + "\n\n" + source(TRAVERSALS[trick])
    a = attack(foundry, code, "escape", {"plant": canary.path("planted"), "secret": str(canary.secret_file)})
    assert "checks" in a.rejected_by and a.codes & {"checks.dynamic-code", "checks.import-not-allowed"}, (
        f"the static checks let {trick} through: {sorted(a.codes)}")
    # forced through the sandbox, the trick reaches only the sandboxed process's own os module
    if a.case is not None and a.case.ok:
        value = str(a.case.value)
        assert "planted" not in value.split(",")[0:1] and canary.token not in value, value
        assert "uid=0" not in value
    assert canary.token not in json.dumps(a.outcome.to_json())
    canary.assert_untouched()
    assert listeners.contacted() == []
