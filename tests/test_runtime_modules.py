"""swaplint.runtime: dotted module names and a module's own handle during its load.

The verifier loads a user file under the dotted name the linter computes
(``pkg.relative`` for ``pkg/relative.py`` next to ``pkg/__init__.py``), so
every way Python code names its own module must give the runtime's handle --
a qualified call that reaches the current version -- under that name, and
``sys.modules[__name__]`` must work while the module's top level runs.
"""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from swaplint.runtime import Runtime, UndefinedFunction


def src(text: str) -> str:
    return textwrap.dedent(text)


def loop_source(prelude: str, handle: str) -> str:
    """A flat server loop that re-enters through ``handle`` on switch_code."""
    return (
        "from swaplint.runtime import receive\n"
        + textwrap.dedent(prelude)
        + textwrap.dedent(
            f"""
            def loop(n):
                msg = receive()
                if msg == "switch_code":
                    return {handle}.loop(n)
                return loop(n + 1)
            """
        )
    )


def upgrade_through(rt: Runtime, module: str, source: str, loads: int = 4) -> int:
    """Spawn ``module.loop``, then load new versions and tell it switch_code:
    each time it must land in the new version.  Returns the pid."""
    assert rt.load(module, source) == 1
    pid = rt.spawn(module, "loop", 0)
    rt.run()
    assert rt.current_function(pid) == (module, "loop", 1)
    for v in range(2, loads + 1):
        assert rt.load(module, source) == v
        assert rt.check_process_code(pid, module)  # still in the old version
        rt.send(pid, "switch_code")
        rt.run()
        assert rt.current_function(pid) == (module, "loop", v)
        assert not rt.check_process_code(pid, module)
        assert rt.stack_depth(pid) == 1
    assert rt.is_alive(pid)
    assert rt.kills == []
    return pid


def real_modules_untouched(*names: str) -> None:
    for name in names:
        assert name not in sys.modules
        top, _, rest = name.partition(".")
        if rest and top in sys.modules:
            assert not hasattr(sys.modules[top], rest.partition(".")[0])


# ---------------------------------------------------------------------------
# 1. dotted names: every handle form is a qualified call
# ---------------------------------------------------------------------------

HANDLE_FORMS = {
    "import-dotted": ("import pkg.relative\n", "pkg.relative"),
    "import-as": ("import pkg.relative as me\n", "me"),
    "from-pkg": ("from pkg import relative\n", "relative"),
    "from-pkg-as": ("from pkg import relative as me\n", "me"),
    "from-dot": ("from . import relative\n", "relative"),
    "from-dot-as": ("from . import relative as me\n", "me"),
    "sys-modules-literal": ("import sys\n", 'sys.modules["pkg.relative"]'),
    "sys-modules-name": ("import sys\n", "sys.modules[__name__]"),
    "sys-modules-get": ("import sys\n", "sys.modules.get(__name__)"),
    "import-module-literal": (
        "import importlib\n",
        'importlib.import_module("pkg.relative")',
    ),
    "import-module-name": ("import importlib\n", "importlib.import_module(__name__)"),
    "import-module-relative": (
        "import importlib\n",
        'importlib.import_module(".relative", "pkg")',
    ),
    "import-module-package": (
        "from importlib import import_module\n",
        'import_module(".relative", __package__)',
    ),
}


@pytest.mark.parametrize("form", list(HANDLE_FORMS))
def test_dotted_module_reenters_through_each_handle_form(form):
    prelude, handle = HANDLE_FORMS[form]
    rt = Runtime()
    upgrade_through(rt, "pkg.relative", loop_source(prelude, handle))
    assert rt.versions("pkg.relative") == (3, 4)
    real_modules_untouched("pkg", "pkg.relative")


def test_dotted_module_sees_its_name_and_package_and_all_forms_are_one_handle():
    source = src(
        """\
        import sys, importlib
        import pkg.relative
        import pkg.relative as me
        from pkg import relative
        from . import relative as rel
        from .relative import value as imported_value

        def value():
            return 1

        FORMS = [
            pkg.relative, me, relative, rel,
            sys.modules["pkg.relative"], sys.modules[__name__],
            importlib.import_module("pkg.relative"),
            importlib.import_module(__name__),
            importlib.import_module(".relative", "pkg"),
        ]
        NAMES = (__name__, __package__)
        """
    )
    # ``from .relative import value`` during the first load sees the
    # namespace being filled -- but ``value`` is defined below it, so give
    # the module a first line that defines it early
    source = "def value():\n    return 0\n" + source
    rt = Runtime()
    rt.load("pkg.relative", source)
    h = rt.module("pkg.relative")
    assert h.NAMES == ("pkg.relative", "pkg")
    assert all(form is h for form in h.FORMS)
    assert h.imported_value() == 0  # bound at import time, from version 1
    assert h.value() == 1


def test_a_package_that_is_loaded_too_keeps_its_own_functions():
    init = src(
        """\
        def helper(n):
            return n * 10
        """
    )
    user = src(
        """\
        from swaplint.runtime import receive
        import pkg.relative

        def loop(n, out):
            msg = receive()
            if msg == "switch_code":
                return pkg.relative.loop(n, out)
            out.append((pkg.helper(n), pkg.relative.tag()))
            return loop(n + 1, out)

        def tag():
            return __swaplint_version__
        """
    )
    rt = Runtime()
    rt.load("pkg", init, filename="/somewhere/pkg/__init__.py")
    rt.load("pkg.relative", user)
    assert rt.module("pkg").relative is rt.module("pkg.relative")
    assert rt.module("pkg").__package__ == "pkg"  # a package is its own package
    out: list = []
    pid = rt.spawn("pkg.relative", "loop", 1, out)
    rt.send(pid, "go")
    rt.run()
    rt.load("pkg", init.replace("* 10", "* 100"))
    rt.load("pkg.relative", user)
    rt.send(pid, "go")  # the package's qualified helper is the new one already
    rt.send(pid, "switch_code")
    rt.send(pid, "go")
    rt.run()
    assert out == [(10, 1), (200, 2), (300, 2)]
    assert rt.current_function(pid) == ("pkg.relative", "loop", 2)
    real_modules_untouched("pkg", "pkg.relative")


def test_package_loaded_after_its_submodule_still_reaches_both():
    rt = Runtime()
    rt.load("pkg.relative", "def f():\n    return 'sub'\n")
    rt.load(
        "pkg",
        src(
            """\
            import pkg.relative
            def g():
                return pkg.relative.f() + '+pkg'
            """
        ),
    )
    rt.load(
        "user",
        src(
            """\
            import pkg
            import pkg.relative
            def both():
                return pkg.g(), pkg.relative.f()
            """
        ),
    )
    assert rt.module("user").both() == ("sub+pkg", "sub")
    rt.load("pkg.relative", "def f():\n    return 'sub2'\n")
    assert rt.module("user").both() == ("sub2+pkg", "sub2")


def test_deep_names_and_intermediate_packages_that_are_not_loaded():
    rt = Runtime()
    rt.load("a.b.c", "def f():\n    return 'c'\n")
    rt.load("a.x", "def f():\n    return 'x'\n")
    rt.load(
        "user",
        src(
            """\
            import sys, importlib
            import a.b.c
            import a.b.c as c
            from a.b import c as c2
            from a import x
            import a.b
            def calls():
                return (a.b.c.f(), c.f(), c2.f(), x.f(), a.x.f(),
                        sys.modules["a.b"].c.f(), importlib.import_module("a.b.c").f())
            """
        ),
    )
    assert rt.module("user").calls() == ("c", "c", "c", "x", "x", "c", "c")
    real_modules_untouched("a", "a.b", "a.b.c", "a.x")


def test_real_packages_and_their_submodules_keep_working_next_to_loaded_ones():
    source = loop_source(
        """\
        import json
        import json.mine
        import json.decoder
        import os.path
        import os.custom
        from json import decoder, encoder
        import importlib

        def probe():
            return (
                json.dumps([1]),
                json.decoder.JSONDecoder.__name__,
                decoder.__name__,
                encoder.__name__,
                os.path.join("a", "b"),
                os.getcwd() == importlib.import_module("os").getcwd(),
                os.custom.ok(),
                importlib.import_module("os.path").join("c", "d"),
            )
        """,
        "json.mine",
    )
    rt = Runtime()
    rt.load("os.custom", "def ok():\n    return True\n")
    upgrade_through(rt, "json.mine", source)
    import os

    assert rt.module("json.mine").probe() == (
        "[1]",
        "JSONDecoder",
        "json.decoder",
        "json.encoder",
        os.path.join("a", "b"),
        True,
        True,
        os.path.join("c", "d"),
    )
    real_modules_untouched("json.mine", "os.custom")


def test_missing_names_under_a_package_view_fail_like_python():
    rt = Runtime()
    rt.load("pkg.relative", "X = 1\n")
    with pytest.raises(ImportError):
        rt.load("user", "from pkg import nothing\n")
    with pytest.raises(ModuleNotFoundError):
        rt.load("user", "import pkg.nothing\n")
    with pytest.raises(ImportError, match="beyond top-level"):
        rt.load("user2.mod", "from .. import x\n")
    with pytest.raises(ImportError, match="no known parent"):
        rt.load("user3", "from . import x\n")
    assert rt.versions("user") == rt.versions("user2.mod") == rt.versions("user3") == ()


def test_two_runtimes_do_not_see_each_others_dotted_modules():
    source = src(
        """\
        from swaplint.runtime import receive
        import pkg.mod
        from pkg import mod as me
        def value():
            return {v!r}
        def loop(out):
            receive()
            out.append((pkg.mod.value(), me.value()))
            return loop(out)
        """
    )
    rt1, rt2 = Runtime(), Runtime()
    rt1.load("pkg.mod", source.replace("{v!r}", "'one'"))
    rt2.load("pkg.mod", source.replace("{v!r}", "'two'"))
    out1: list = []
    out2: list = []
    p1 = rt1.spawn("pkg.mod", "loop", out1)
    p2 = rt2.spawn("pkg.mod", "loop", out2)
    rt1.send(p1, 0)
    rt2.send(p2, 0)
    rt1.run()
    rt2.run()
    assert (out1, out2) == ([("one", "one")], [("two", "two")])
    assert rt1.module("pkg.mod") is not rt2.module("pkg.mod")
    real_modules_untouched("pkg", "pkg.mod")


TRY_LOOP = """\
from swaplint.runtime import receive
import pkg.worker

def loop(n):
    try:
        msg = receive()
        if msg == "switch_code":
            return pkg.worker.loop(n)
        return loop(n + 1)
    except ValueError:
        return loop(n)
"""


def test_spawn_versions_check_purge_and_kill_records_use_the_dotted_name():
    rt = Runtime()
    rt.load("pkg.worker", TRY_LOOP)
    pid = rt.spawn("pkg.worker", "loop", 0)
    rt.run()
    assert rt.current_function(pid) == ("pkg.worker", "loop", 1)
    rt.load("pkg.worker", TRY_LOOP)
    assert rt.versions("pkg.worker") == (1, 2)
    assert rt.check_process_code(pid, "pkg.worker")
    rt.send(pid, "switch_code")
    rt.run()
    # runs version 2 but a try frame of version 1 is still on the stack
    assert rt.current_function(pid) == ("pkg.worker", "loop", 2)
    assert rt.stack_versions(pid, "pkg.worker") == (1, 2)
    assert rt.check_process_code(pid, "pkg.worker")
    assert not rt.soft_purge("pkg.worker")
    assert rt.purge("pkg.worker") is True
    assert rt.exit_reason(pid) == "killed"
    rec = rt.kill_record(pid)
    assert rec.module == "pkg.worker" and rec.version == 1
    assert rec.versions == (("pkg.worker", 1), ("pkg.worker", 2))
    assert {f.module for f in rec.frames} == {"pkg.worker"}
    assert rt.versions("pkg.worker") == (2,)
    assert ("purge", None, ("pkg.worker", 1, (pid,))) in [e[1:] for e in rt.trace]


@pytest.mark.parametrize("name", ["a..b", "1x", "", ".a", "a.", "a.1b", "a b", "a-b", None, 3])
def test_names_that_are_not_dotted_identifiers_are_rejected(name):
    rt = Runtime()
    with pytest.raises(ValueError, match="dotted name of identifiers"):
        rt.load(name, "X = 1\n")
    assert list(rt.code.visible_names()) == []


def test_spawn_of_an_unknown_dotted_module_or_function():
    rt = Runtime()
    with pytest.raises(UndefinedFunction):
        rt.spawn("pkg.nothing", "loop")
    rt.load("pkg.mod", "def f():\n    pass\n")
    with pytest.raises(UndefinedFunction):
        rt.spawn("pkg", "f")  # the package view is not a module of its own
    with pytest.raises(UndefinedFunction):
        rt.spawn("pkg.mod", "g")
    assert rt.versions("pkg") == ()


# ---------------------------------------------------------------------------
# 2. the module's own handle while its top level runs
# ---------------------------------------------------------------------------

OWN_HANDLE_FORMS = {
    "sys-modules": "import sys\nthis = sys.modules[__name__]\n",
    "import-module": "import importlib\nthis = importlib.import_module(__name__)\n",
    "from-import-module": "from importlib import import_module\nthis = import_module(__name__)\n",
    "sys-modules-get": "import sys\nthis = sys.modules.get(__name__)\nassert this is not None\n",
    "in-sys-modules": "import sys\nassert __name__ in sys.modules\nthis = sys.modules[__name__]\n",
}


@pytest.mark.parametrize("module", ["me", "pkg.me"])
@pytest.mark.parametrize("form", list(OWN_HANDLE_FORMS))
def test_own_handle_taken_at_top_level_during_the_load(form, module):
    rt = Runtime()
    pid = upgrade_through(rt, module, loop_source(OWN_HANDLE_FORMS[form], "this"))
    assert rt.module(module).this is rt.module(module)
    assert rt.current_function(pid) == (module, "loop", 4)
    real_modules_untouched(module)


def test_dotted_self_import_forms_at_top_level_during_the_first_load():
    source = loop_source(
        """\
        import pkg.me
        import pkg.me as this
        from pkg import me
        from . import me as again
        assert pkg.me is this is me is again
        """,
        "this",
    )
    upgrade_through(Runtime(), "pkg.me", source)


def test_first_load_shows_the_namespace_being_filled_a_reload_the_current_version():
    source = src(
        """\
        import sys
        this = sys.modules[__name__]
        def version():
            return __swaplint_version__
        SEEN = this.version()   # first load: this version; reload: the current one
        """
    )
    rt = Runtime()
    rt.load("me", source)
    assert rt.module("me").SEEN == 1
    rt.load("me", source)
    assert rt.module("me").SEEN == 1  # version 1 was still current during the load
    rt.load("me", source)
    assert rt.module("me").SEEN == 2
    assert rt.module("me").version() == 3


BROKEN_FIRST = """\
import sys, importlib
this = sys.modules[__name__]
that = importlib.import_module(__name__)
ESCAPED.append(this)
def loop(n):
    return n
raise RuntimeError("boom")
"""


@pytest.mark.parametrize("module", ["me", "pkg.me", "a.b.me"])
def test_a_failed_first_load_leaves_the_runtime_unchanged(module):
    rt = Runtime()
    escaped: list = []
    broken = "ESCAPED = __builtins__['__escaped__']\n" + BROKEN_FIRST
    rt.code._builtins["__escaped__"] = escaped  # a way out for the handle
    with pytest.raises(RuntimeError, match="boom"):
        rt.load(module, broken)
    assert rt.versions(module) == ()
    assert list(rt.code.visible_names()) == []
    with pytest.raises(UndefinedFunction):
        rt.module(module)
    with pytest.raises(UndefinedFunction):
        rt.spawn(module, "loop", 0)
    (handle,) = escaped
    assert not hasattr(handle, "loop")  # the escaped handle sees nothing
    top = module.partition(".")[0]
    probe = src(
        f"""\
        import sys, importlib
        SEEN = ({module!r} in sys.modules, {top!r} in sys.modules,
                sys.modules.get({module!r}))
        try:
            importlib.import_module({module!r})
        except ImportError:
            IMPORTABLE = False
        else:
            IMPORTABLE = True
        """
    )
    rt.load("probe", probe)
    assert rt.module("probe").SEEN == (False, False, None)
    assert rt.module("probe").IMPORTABLE is False
    # and the next load is a clean version 1 with a new handle
    upgrade_through(rt, module, loop_source("import sys\nthis = sys.modules[__name__]\n", "this"))
    assert rt.module(module) is not handle
    real_modules_untouched(module)


def test_a_failed_first_load_keeps_the_siblings_and_the_package():
    rt = Runtime()
    rt.load("pkg.good", "def f():\n    return 'good'\n")
    with pytest.raises(ZeroDivisionError):
        rt.load("pkg.bad", "import pkg.bad\nX = 1 / 0\n")
    with pytest.raises(ZeroDivisionError):
        rt.load("pkg", "import pkg.good\nX = 1 / 0\n")
    assert rt.versions("pkg.bad") == rt.versions("pkg") == ()
    rt.load(
        "user",
        src(
            """\
            import sys
            import pkg.good
            from pkg import good
            MISSING = not hasattr(pkg, "bad") and "pkg.bad" not in sys.modules
            def f():
                return pkg.good.f(), good.f()
            """
        ),
    )
    assert rt.module("user").f() == ("good", "good")
    assert rt.module("user").MISSING
    assert repr(sys.modules.get("pkg")) == "None"


def test_a_failed_reload_keeps_the_old_current_version_current():
    good = loop_source("import sys\nthis = sys.modules[__name__]\n", "this")
    broken = good + "raise RuntimeError('boom')\n"
    rt = Runtime()
    rt.load("pkg.me", good)
    pid = rt.spawn("pkg.me", "loop", 0)
    rt.run()
    with pytest.raises(RuntimeError, match="boom"):
        rt.load("pkg.me", broken)
    assert rt.versions("pkg.me") == (1,)
    rt.send(pid, "switch_code")
    rt.run()
    assert rt.current_function(pid) == ("pkg.me", "loop", 1)
    assert rt.load("pkg.me", good) == 2
    with pytest.raises(RuntimeError, match="boom"):
        rt.load("pkg.me", broken)
    assert rt.versions("pkg.me") == (1, 2)  # nothing purged, nothing killed
    assert rt.is_alive(pid) and rt.kills == []
    rt.send(pid, "switch_code")
    rt.run()
    assert rt.current_function(pid) == ("pkg.me", "loop", 2)
    assert rt.load("pkg.me", good) == 3
    rt.send(pid, "switch_code")
    rt.run()
    assert rt.current_function(pid) == ("pkg.me", "loop", 3)
    assert rt.is_alive(pid)


def test_dir_of_a_package_handle_lists_its_submodules():
    rt = Runtime()
    rt.load("pkg", "def f():\n    pass\n", filename="/p/pkg/__init__.py")
    rt.load("pkg.sub", "X = 1\n")
    assert {"f", "sub"} <= set(dir(rt.module("pkg")))
    assert json.dumps(sorted(rt.code.visible_names())) == '["pkg", "pkg.sub"]'
