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

Module names may be dotted (``pkg.relative``: what the linter computes for a
file inside a package).  Such a module has ``__package__ == "pkg"`` (a file
named ``__init__.py`` is a package: ``__package__`` is its own name), and
all the import forms Python users expect give its handle: ``import
pkg.relative`` (binds ``pkg``), ``import pkg.relative as me``, ``from pkg
import relative``, ``from . import relative``, ``sys.modules["pkg.relative"]``
and ``importlib.import_module(".relative", "pkg")``.  The parent ``pkg`` is
bound to its own handle if ``pkg`` is loaded too, otherwise to a
:class:`_PackageView`: a module object whose attributes are this runtime's
submodules (and sub-packages), falling back to the real package of that name,
if any, for everything else -- so ``import os.path`` still works in loaded
code next to a loaded ``os.custom``.  A handle's submodules are class
attributes of its own (per-record) subclass of :class:`ModuleHandle`: the
instance ``__dict__`` stays the version's namespace, untouched, and attribute
lookup on a handle stays a plain, specialisable lookup (no ``__getattr__``).

A module is visible to its own top-level code while it loads, as in Python:
``sys.modules[__name__]``, ``importlib.import_module(__name__)`` and
``import me`` give the handle (during a first load it shows the namespace
being filled; during a reload, the current version).  A load that raises
leaves nothing behind: a failed first load unregisters the module, its
handle and its links from the parent package again.

A frame belongs to loaded code exactly when its ``f_globals`` is the namespace
of a live version; :meth:`CodeServer.version_of_globals` is that test, and
trampoline frames (globals of :mod:`.tailcall`) never pass it.
"""

from __future__ import annotations

import builtins
import importlib
import linecache
import os
import sys
import types
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from functools import partial
from typing import Any

from .tailcall import (
    GEN_NAME,
    TAILCALL_NAME,
    WRAP_NAME,
    TailCall,
    compile_module,
    make_gen_wrapper,
    make_wrapper,
)

__all__ = [
    "CodeServer",
    "ModuleHandle",
    "NotPurged",
    "UndefinedFunction",
    "Version",
    "check_module_name",
]

_real_import = builtins.__import__


def check_module_name(name: object) -> None:
    """Raise ``ValueError`` unless *name* is a dotted identifier (``pkg.mod``)."""
    if not isinstance(name, str) or not name or not all(part.isidentifier() for part in name.split(".")):
        raise ValueError(
            "module name must be an identifier or a dotted name of identifiers "
            f"(like 'pkg.mod'), got {name!r}"
        )


def _resolve_name(name: str, package: object, level: int) -> str:
    """The absolute name of a relative import (``level`` leading dots)."""
    if not package or not isinstance(package, str):
        raise ImportError("attempted relative import with no known parent package")
    bits = package.rsplit(".", level - 1)
    if len(bits) < level:
        raise ImportError("attempted relative import beyond top-level package")
    base = bits[0]
    return f"{base}.{name}" if name else base


def _package_of(g: Mapping[str, Any] | None) -> str | None:
    """``__package__`` of the importing module, as ``importlib`` computes it."""
    if not g:
        return None
    package = g.get("__package__")
    if package is None and "__name__" in g:
        package = g["__name__"]
        if "__path__" not in g:
            package = package.rpartition(".")[0]
    return package if isinstance(package, str) else None


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


class NotPurged(Exception):
    """A load was refused because old code is still in use (Erlang's
    ``{error, not_purged}``); nothing changed."""

    def __init__(self, module: str, version: int, pids: Iterable[int] = ()) -> None:
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
        self.namespace: dict[str, Any] = {}
        self.purged = False

    def __repr__(self) -> str:
        state = " purged" if self.purged else ""
        return f"<{self.module} v{self.number}{state}>"


class ModuleHandle:
    """What ``import counter`` gives loaded code: attribute access reads the
    *current* version's namespace (the instance ``__dict__`` is swapped on
    each load).  Every ``counter.f(...)`` is therefore a qualified call.

    Each module gets its own subclass (see :func:`_new_handle`), on which its
    loaded submodules are class attributes: ``pkg.relative`` finds the
    submodule's handle without a ``__getattr__`` hook slowing down every
    ``pkg.f(...)``.
    """

    def __repr__(self) -> str:
        ns = object.__getattribute__(self, "__dict__")
        return f"<swaplint module {ns.get('__name__')!r} v{ns.get('__swaplint_version__')}>"

    def __dir__(self) -> list[str]:
        names = set(object.__getattribute__(self, "__dict__"))
        names.update(k for k in type(self).__dict__ if not _is_dunder(k))
        return sorted(names)


def _new_handle() -> ModuleHandle:
    cls = type("ModuleHandle", (ModuleHandle,), {"__module__": __name__})
    handle: ModuleHandle = cls()
    return handle


def _bind(node: Any, attr: str, obj: object) -> None:
    """Make *obj* attribute *attr* of a handle (class attribute) or view."""
    if isinstance(node, ModuleHandle):
        if not _is_dunder(attr):
            setattr(type(node), attr, obj)
    else:
        node.__dict__[attr] = obj


def _unbind(node: Any, attr: str) -> None:
    if isinstance(node, ModuleHandle):
        if attr in type(node).__dict__ and not _is_dunder(attr):
            delattr(type(node), attr)
    else:
        node.__dict__.pop(attr, None)


class _Record:
    __slots__ = ("count", "current", "handle", "name", "old")

    def __init__(self, name: str) -> None:
        self.name = name
        self.current: Version | None = None
        self.old: Version | None = None
        self.handle = _new_handle()
        self.count = 0


class _PackageView(types.ModuleType):
    """The parent package of loaded modules that is not loaded itself.

    Its attributes are this runtime's submodules (instance attributes, set as
    they load); anything else comes from the real package of that name, if
    there is one (imported only when such an attribute is first asked for).
    """

    __slots__ = ("_swaplint_server",)

    def __init__(self, name: str, server: CodeServer) -> None:
        super().__init__(name)
        self._swaplint_server = server

    def __repr__(self) -> str:
        return f"<swaplint package {self.__name__!r}>"

    def __getattr__(self, attr: str) -> Any:
        name = self.__name__
        if _is_dunder(attr):
            raise AttributeError(f"package {name!r} has no attribute {attr!r}")
        full = f"{name}.{attr}"
        node = self._swaplint_server.lookup(full)
        if node is not None:
            return node
        mod = sys.modules.get(full)
        if mod is not None:
            return mod
        try:
            real = importlib.import_module(name)
        except ImportError:
            raise AttributeError(f"package {name!r} has no attribute {attr!r}") from None
        return getattr(real, attr)


class _ModulesView(MutableMapping[str, Any]):
    """``sys.modules`` as seen by loaded code: this runtime's handles first."""

    def __init__(self, server: CodeServer) -> None:
        self._server = server

    def __getitem__(self, key: str) -> Any:
        node = self._server.lookup(key)
        if node is not None:
            return node
        return sys.modules[key]

    def __setitem__(self, key: str, value: Any) -> None:
        sys.modules[key] = value

    def __delitem__(self, key: str) -> None:
        del sys.modules[key]

    def __iter__(self) -> Iterator[str]:
        names = list(self._server.visible_names())
        yield from names
        for key in list(sys.modules):
            if key not in names:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        return (isinstance(key, str) and self._server.lookup(key) is not None) or key in sys.modules


class _SysView(types.ModuleType):
    """``sys`` as seen by loaded code (only ``modules`` differs)."""

    def __init__(self, server: CodeServer) -> None:
        super().__init__("sys")
        object.__setattr__(self, "modules", _ModulesView(server))

    def __getattr__(self, name: str) -> Any:
        return getattr(sys, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(sys, name, value)


class _ImportlibView(types.ModuleType):
    """``importlib`` as seen by loaded code (only ``import_module`` differs)."""

    def __init__(self, server: CodeServer) -> None:
        super().__init__("importlib")

        def import_module(name: str, package: str | None = None) -> Any:
            absname = name
            if isinstance(name, str) and name.startswith(".") and package:
                level = len(name) - len(name.lstrip("."))
                absname = _resolve_name(name[level:], package, level)
            node = server.lookup(absname) if isinstance(absname, str) else None
            if node is not None:
                return node
            return importlib.import_module(name, package)

        object.__setattr__(self, "import_module", import_module)

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib, name)


class CodeServer:
    """Versions of every module loaded into one runtime."""

    def __init__(self, tag: str) -> None:
        self.tag = tag  # distinguishes this runtime's pseudo file names
        # A record exists while its module has a current version or is being
        # loaded for the first time (a failed first load removes it again).
        self._records: dict[str, _Record] = {}
        self._by_globals: dict[int, Version] = {}  # id(namespace) -> live Version
        self._views: dict[str, _PackageView] = {}  # parents that are not loaded
        self._children: dict[str, dict[str, object]] = {}  # parent -> {attr: node}
        self._linecache_keys: list[str] = []
        self._sys_view = _SysView(self)
        self._importlib_view = _ImportlibView(self)
        bi = dict(builtins.__dict__)
        bi["__import__"] = self._import
        self._builtins = bi

    # -- lookups -----------------------------------------------------------
    def names(self) -> Iterator[str]:
        return (n for n, r in self._records.items() if r.current is not None)

    def visible_names(self) -> Iterator[str]:
        """What loaded code sees in ``sys.modules``: modules (including one
        being loaded) and the package views above them."""
        yield from self._records
        for name in self._views:
            if name not in self._records:
                yield name

    def record(self, name: str) -> _Record | None:
        return self._records.get(name)

    def handle(self, name: str) -> Any:
        rec = self._records.get(name)
        if rec is None or rec.current is None:
            return None
        return rec.handle

    def lookup(self, name: str) -> Any:
        """What loaded code gets for *name*: the module's handle (also while
        its first version loads), a package view, or None (not ours)."""
        rec = self._records.get(name)
        if rec is not None:
            return rec.handle
        return self._views.get(name)

    def current(self, name: str) -> Version | None:
        rec = self._records.get(name)
        return None if rec is None else rec.current

    def old(self, name: str) -> Version | None:
        rec = self._records.get(name)
        return None if rec is None else rec.old

    def version_of_globals(self, g: object) -> Version | None:
        return self._by_globals.get(id(g))

    # -- loading -----------------------------------------------------------
    def prepare(self, name: str, source: str, filename: str | None = None) -> Version:
        """Compile and execute *source* as the next version of *name*.

        Nothing is installed yet: an exception here (syntax error, error in
        module-level code) leaves the server unchanged.  While the code runs
        the module is visible to it (``sys.modules[__name__]``); on a first
        load its handle shows the namespace being filled.
        """
        check_module_name(name)
        rec = self._records.get(name)
        number = 1 if rec is None else rec.count + 1
        is_package = filename is not None and os.path.basename(filename) == "__init__.py"
        if filename is None:
            filename = f"<swaplint {self.tag}: {name} v{number}>"
        code, _ = compile_module(source, filename)
        version = Version(name, number, filename)
        ns = version.namespace
        ns.update(
            {
                "__name__": name,
                "__doc__": None,
                "__package__": name if is_package else name.rpartition(".")[0],
                "__spec__": None,
                "__loader__": None,
                "__file__": filename,
                "__builtins__": self._builtins,
                "__swaplint_version__": number,
                TAILCALL_NAME: TailCall,
                WRAP_NAME: partial(make_wrapper, version=version),
                GEN_NAME: partial(make_gen_wrapper, version=version),
            }
        )
        # make the source visible to tracebacks before any of it runs
        lines = source.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        linecache.cache[filename] = (len(source), None, lines, filename)
        self._linecache_keys.append(filename)
        first = rec is None
        if first:  # visible to its own top-level code, as in sys.modules
            rec = self._records[name] = _Record(name)
            rec.handle.__dict__ = ns
            self._attach(name, rec.handle)
        try:
            exec(code, ns)
        except BaseException:
            if first and rec is not None and self._records.get(name) is rec and rec.current is None:
                self._forget(name, rec)
            raise
        return version

    def install(self, version: Version) -> None:
        """Make *version* current; the current one becomes old.

        The caller has already purged any previous old version.
        """
        rec = self._records.get(version.module)
        if rec is None:
            rec = self._records[version.module] = _Record(version.module)
            self._attach(version.module, rec.handle)
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

    # -- the package tree ----------------------------------------------------
    def _attach(self, name: str, handle: ModuleHandle) -> None:
        """A module appears: give its handle the submodules a package view of
        the same name had, and make it attribute of its parent."""
        for attr, node in self._children.get(name, {}).items():
            _bind(handle, attr, node)
        parent, _, last = name.rpartition(".")
        if parent:
            self._set_child(parent, last, handle)

    def _forget(self, name: str, rec: _Record) -> None:
        """Undo a failed first load: no record, no link from the parent."""
        del self._records[name]
        rec.handle.__dict__ = {}
        parent, _, last = name.rpartition(".")
        if not parent:
            return
        view = self._views.get(name)
        if view is not None:  # still the parent of other loaded modules
            self._set_child(parent, last, view)
        else:
            self._del_child(parent, last)

    def _set_child(self, parent: str, attr: str, node: object) -> None:
        self._children.setdefault(parent, {})[attr] = node
        pnode = self.lookup(parent)
        if pnode is None:
            pnode = self._views[parent] = _PackageView(parent, self)
            grand, _, last = parent.rpartition(".")
            if grand:
                self._set_child(grand, last, pnode)
        _bind(pnode, attr, node)

    def _del_child(self, parent: str, attr: str) -> None:
        kids = self._children.get(parent)
        if not kids or attr not in kids:
            return
        del kids[attr]
        pnode = self.lookup(parent)
        if pnode is not None:
            _unbind(pnode, attr)
        if kids:
            return
        del self._children[parent]
        if self._views.get(parent) is pnode:  # an empty view: drop it too
            del self._views[parent]
            grand, _, last = parent.rpartition(".")
            if grand:
                self._del_child(grand, last)

    # -- the import hook of loaded code -------------------------------------
    def _import(
        self,
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] = (),
        level: int = 0,
    ) -> Any:
        if level:
            absname = _resolve_name(name, _package_of(globals), level)
        else:
            if name == "sys":
                return self._sys_view
            if name == "importlib" or (name.startswith("importlib.") and not fromlist):
                _real_import(name, globals, locals, fromlist, level)
                return self._importlib_view
            absname = name
        node = self.lookup(absname)
        if node is not None:
            if fromlist:
                if isinstance(node, _PackageView):
                    self._import_submodules(node, fromlist)
                return node
            if level or "." not in absname:
                return node
            return self.lookup(absname.partition(".")[0])
        if level == 0 and not fromlist and "." in absname:
            top = self.lookup(absname.partition(".")[0])
            if top is not None:
                # a real submodule below one of our packages (``import
                # os.path`` next to a loaded ``os.custom``): import it, but
                # keep the name bound to our package, which falls back to it
                _real_import(name, globals, locals, fromlist, level)
                return top
        return _real_import(name, globals, locals, fromlist, level)

    def _import_submodules(self, view: _PackageView, fromlist: Sequence[str]) -> None:
        """``from pkg import x`` with *pkg* a view: import real submodules
        that are not attributes, as ``importlib``'s ``_handle_fromlist``."""
        for item in fromlist:
            if not isinstance(item, str) or item == "*" or hasattr(view, item):
                continue
            full = f"{view.__name__}.{item}"
            try:
                _real_import(full)
            except ModuleNotFoundError as exc:
                if exc.name and (full == exc.name or full.startswith(exc.name + ".")):
                    continue  # not a module either: IMPORT_FROM reports it
                raise
