"""The code server: versions, purge bookkeeping and import handles.

Erlang keeps at most two versions of a module: *current* and *old*.  Loading
makes current old and the new code current; the old version lives on only as
long as some process still has a frame of it on its stack, and a purge removes
it (killing those processes -- that part is ``Runtime.purge``).

Here each load of a module is a :class:`Version`: the source is compiled
through the tail-call rewrite (:mod:`.tailcall`) and executed in a **fresh
namespace dict**.  Every function defined by that execution has that dict as
its ``__globals__``, which gives the two kinds of call their Erlang meaning
for free:

* a **local call** ``f(x)`` looks ``f`` up in the caller's own globals, i.e.
  in the caller's version -- it stays in old code;
* a **qualified call** ``counter.f(x)`` goes through the module *handle*
  (:class:`ModuleHandle`), whose instance ``__dict__`` *is* the current
  version's namespace (it is re-pointed on every load), so it always reaches
  the current version, at plain attribute-lookup speed.

Inside loaded code ``import counter`` returns that handle, and so do
``sys.modules[__name__]`` and ``importlib.import_module(__name__)``: loaded
code gets its own ``__builtins__`` whose ``__import__`` answers this
runtime's module names and hands out thin views of ``sys`` and ``importlib``
that consult this runtime first.  Nothing is written to the real
``sys.modules``, so several ``Runtime`` objects never see each other's
modules (or shadow a real module called ``json``).

A frame belongs to loaded code exactly when its ``f_globals`` is the namespace
of a live version; :meth:`CodeServer.version_of_globals` is that test, and
trampoline frames (globals of :mod:`.tailcall`) never pass it.
"""

from __future__ import annotations

import builtins
import importlib
import linecache
import sys
import types
from collections.abc import MutableMapping
from functools import partial

from .tailcall import TAILCALL_NAME, WRAP_NAME, TailCall, compile_module, make_wrapper

__all__ = ["CodeServer", "ModuleHandle", "NotPurged", "UndefinedFunction", "Version"]

_real_import = builtins.__import__


class NotPurged(Exception):
    """A load was refused because old code is still in use (Erlang's
    ``{error, not_purged}``); nothing changed."""

    def __init__(self, module: str, version: int, pids=()):
        self.module = module
        self.version = version
        self.pids = tuple(pids)
        who = f" (used by {', '.join(map(repr, self.pids))})" if self.pids else ""
        super().__init__(f"old code of {module!r} (v{version}) is still in use{who}")


class UndefinedFunction(LookupError):
    """Erlang's ``undef``: no such module or function."""


class Version:
    """One loaded version of a module."""

    __slots__ = ("__weakref__", "filename", "module", "namespace", "number", "purged")

    def __init__(self, module: str, number: int, filename: str) -> None:
        self.module = module
        self.number = number
        self.filename = filename
        self.namespace: dict = {}
        self.purged = False

    def __repr__(self) -> str:
        state = " purged" if self.purged else ""
        return f"<{self.module} v{self.number}{state}>"


class ModuleHandle:
    """What ``import counter`` gives loaded code: attribute access reads the
    *current* version's namespace (the instance ``__dict__`` is swapped on
    each load).  Every ``counter.f(...)`` is therefore a qualified call."""

    def __repr__(self) -> str:
        ns = object.__getattribute__(self, "__dict__")
        return f"<swaplint module {ns.get('__name__')!r} v{ns.get('__swaplint_version__')}>"

    def __dir__(self):
        return list(object.__getattribute__(self, "__dict__"))


class _Record:
    __slots__ = ("count", "current", "handle", "name", "old")

    def __init__(self, name: str) -> None:
        self.name = name
        self.current: Version | None = None
        self.old: Version | None = None
        self.handle = ModuleHandle()
        self.count = 0


class _ModulesView(MutableMapping):
    """``sys.modules`` as seen by loaded code: this runtime's handles first."""

    def __init__(self, server: CodeServer) -> None:
        self._server = server

    def __getitem__(self, key):
        h = self._server.handle(key)
        if h is not None:
            return h
        return sys.modules[key]

    def __setitem__(self, key, value) -> None:
        sys.modules[key] = value

    def __delitem__(self, key) -> None:
        del sys.modules[key]

    def __iter__(self):
        names = list(self._server.names())
        yield from names
        for key in list(sys.modules):
            if key not in names:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key) -> bool:
        return self._server.handle(key) is not None or key in sys.modules


class _SysView(types.ModuleType):
    """``sys`` as seen by loaded code (only ``modules`` differs)."""

    def __init__(self, server: CodeServer) -> None:
        super().__init__("sys")
        object.__setattr__(self, "modules", _ModulesView(server))

    def __getattr__(self, name):
        return getattr(sys, name)

    def __setattr__(self, name, value) -> None:
        setattr(sys, name, value)


class _ImportlibView(types.ModuleType):
    """``importlib`` as seen by loaded code (only ``import_module`` differs)."""

    def __init__(self, server: CodeServer) -> None:
        super().__init__("importlib")

        def import_module(name, package=None):
            h = server.handle(name) if not name.startswith(".") else None
            if h is not None:
                return h
            return importlib.import_module(name, package)

        object.__setattr__(self, "import_module", import_module)

    def __getattr__(self, name):
        return getattr(importlib, name)


class CodeServer:
    """Versions of every module loaded into one runtime."""

    def __init__(self, tag: str) -> None:
        self.tag = tag  # distinguishes this runtime's pseudo file names
        self._records: dict[str, _Record] = {}
        self._by_globals: dict[int, Version] = {}  # id(namespace) -> live Version
        self._linecache_keys: list[str] = []
        self._sys_view = _SysView(self)
        self._importlib_view = _ImportlibView(self)
        bi = dict(builtins.__dict__)
        bi["__import__"] = self._import
        self._builtins = bi

    # -- lookups -----------------------------------------------------------
    def names(self):
        return (n for n, r in self._records.items() if r.current is not None)

    def record(self, name: str) -> _Record | None:
        return self._records.get(name)

    def handle(self, name):
        rec = self._records.get(name)
        if rec is None or rec.current is None:
            return None
        return rec.handle

    def current(self, name: str) -> Version | None:
        rec = self._records.get(name)
        return None if rec is None else rec.current

    def old(self, name: str) -> Version | None:
        rec = self._records.get(name)
        return None if rec is None else rec.old

    def version_of_globals(self, g) -> Version | None:
        return self._by_globals.get(id(g))

    # -- loading -----------------------------------------------------------
    def prepare(self, name: str, source: str, filename: str | None = None) -> Version:
        """Compile and execute *source* as the next version of *name*.

        Nothing is installed yet: an exception here (syntax error, error in
        module-level code) leaves the server unchanged.
        """
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"module name must be an identifier, got {name!r}")
        rec = self._records.get(name)
        if rec is None:  # so that the module can ``import`` itself while loading
            rec = self._records[name] = _Record(name)
        number = rec.count + 1
        if filename is None:
            filename = f"<swaplint {self.tag}: {name} v{number}>"
        code, _ = compile_module(source, filename)
        version = Version(name, number, filename)
        ns = version.namespace
        ns.update(
            {
                "__name__": name,
                "__doc__": None,
                "__package__": "",
                "__spec__": None,
                "__loader__": None,
                "__file__": filename,
                "__builtins__": self._builtins,
                "__swaplint_version__": number,
                TAILCALL_NAME: TailCall,
                WRAP_NAME: partial(make_wrapper, version=version),
            }
        )
        # make the source visible to tracebacks before any of it runs
        lines = source.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        linecache.cache[filename] = (len(source), None, lines, filename)
        self._linecache_keys.append(filename)
        exec(code, ns)  # noqa: S102 - loading code is the point
        return version

    def install(self, version: Version) -> None:
        """Make *version* current; the current one becomes old.

        The caller has already purged any previous old version.
        """
        rec = self._records.get(version.module)
        if rec is None:
            rec = self._records[version.module] = _Record(version.module)
        assert rec.old is None, "purge the old version first"
        rec.old = rec.current
        rec.current = version
        rec.count = version.number
        self._by_globals[id(version.namespace)] = version
        rec.handle.__dict__ = version.namespace

    def drop_old(self, name: str) -> Version | None:
        """Forget the old version of *name* (after its users are gone)."""
        rec = self._records.get(name)
        if rec is None or rec.old is None:
            return None
        old, rec.old = rec.old, None
        old.purged = True
        self._by_globals.pop(id(old.namespace), None)
        return old

    def close(self) -> None:
        """Drop this runtime's pseudo-files from ``linecache``."""
        for key in self._linecache_keys:
            if key.startswith("<swaplint "):
                linecache.cache.pop(key, None)
        self._linecache_keys.clear()

    # -- the import hook of loaded code -------------------------------------
    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0:
            rec = self._records.get(name)
            if rec is not None:
                return rec.handle
            if name == "sys":
                return self._sys_view
            if name == "importlib" or (name.startswith("importlib.") and not fromlist):
                _real_import(name, globals, locals, fromlist, level)
                return self._importlib_view
        return _real_import(name, globals, locals, fromlist, level)
