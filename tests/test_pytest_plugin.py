"""The pytest plugin, tested as a user would use it: in a separate pytest run (pytester)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(pytester):
    for name in ("fixed_loop", "try_catch_loop", "idle_loop"):
        pytester.makepyfile(**{name: (ROOT / "examples" / f"{name}.py").read_text()})
    return pytester


def test_fixture_and_helper_pass_for_the_fixed_loop(project):
    project.makepyfile(
        test_upgrades="""
        from swaplint.pytest_plugin import assert_survives_upgrades
        from swaplint.runtime import Runtime

        def test_fresh_runtime(swap_runtime):
            assert isinstance(swap_runtime, Runtime) and swap_runtime.now == 0.0

        def test_fixed_loop_survives_ten_upgrades(swap_runtime):
            pid = assert_survives_upgrades(swap_runtime, "fixed_loop.py", "server_loop", 0,
                                           upgrades=10, messages=[1, 2, 3])
            assert swap_runtime.is_alive(pid)
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_readable_failure_names_the_load_and_the_stack(project):
    project.makepyfile(
        test_upgrades="""
        from swaplint.pytest_plugin import assert_survives_upgrades

        def test_try_catch_loop(swap_runtime):
            assert_survives_upgrades(swap_runtime, "try_catch_loop.py", "server_loop", 0,
                                     upgrades=3, messages=[1, 1, 1])
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*UpgradeFailed: try_catch_loop.server_loop was killed by load 3 (the purge of version 1); its stack held 3 frame(s) of version 1:*",
            "*try_catch_loop v1 server_loop (line *)*",
        ]
    )


def test_idle_loop_not_told_is_killed(project):
    project.makepyfile(
        test_upgrades="""
        import pytest
        from swaplint.pytest_plugin import UpgradeFailed, assert_survives_upgrades

        def test_idle(swap_runtime):
            with pytest.raises(UpgradeFailed, match="killed by load 3"):
                assert_survives_upgrades(swap_runtime, "idle_loop.py", "server_loop", tell=False)

        def test_idle_told_survives(swap_runtime):
            assert_survives_upgrades(swap_runtime, "idle_loop.py", "server_loop", upgrades=5)
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_plugin_is_registered_by_entry_point():
    from importlib.metadata import entry_points

    (ep,) = [ep for ep in entry_points(group="pytest11") if ep.name == "swaplint"]
    assert ep.value == "swaplint.pytest_plugin"
