"""The pytest plugin's helpers for plain Python code, run as a user would: in a separate pytest."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PLAIN = Path(__file__).resolve().parent / "fixtures" / "plain"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    for name in ("queue_worker", "queue_worker_fixed", "asyncio_consumer_fixed", "recursive_queue_loop"):
        pytester.makepyfile(**{name: (PLAIN / f"{name}.py").read_text(encoding="utf-8")})
    return pytester


def _run(project: pytest.Pytester) -> pytest.RunResult:
    # A subprocess: loops that are not reload-safe keep their threads until it exits.
    return project.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)


def test_fixed_loops_pass(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_reload="""
        import sys
        from swaplint.pytest_plugin import assert_reload_safe

        def test_thread_driver():
            obs = assert_reload_safe("queue_worker_fixed.py", start="run", messages=[1, "flush"], reloads=3)
            assert obs.current == 4 and obs.safe
            assert obs.handled == [
                "message 3 was handled entirely by version-4 code (`step`, `process`)",
                "message 4 was handled entirely by version-4 code (`step`, `flush`)",
            ]

        def test_asyncio_driver():
            assert_reload_safe("asyncio_consumer_fixed.py", start="run", reloads=2)

        def test_swap_live_forgets_what_the_test_loaded(swap_live):
            mod = swap_live.load("queue_worker.py", "qw_in_test")
            assert swap_live.current_version(mod) == 1
            sys.modules["qw_in_test_seen"] = mod

        def test_after_teardown():
            from swaplint import live
            assert "qw_in_test" not in sys.modules
            assert "qw_in_test" not in live._tracked
        """
    )
    result = _run(project)
    result.assert_outcomes(passed=4)


def test_inline_loop_fails_with_the_stale_frames(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_reload="""
        from swaplint.pytest_plugin import assert_reload_safe

        def test_worker():
            assert_reload_safe("queue_worker.py", start="worker", messages=[5], reloads=3)
        """
    )
    result = _run(project)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ReloadUnsafe: queue_worker.worker is not reload-safe after 3 reloads (version 4 is current):",
            "*message 2 was handled by version-1 code (`worker`) and version-4 code (`process`): mixed versions",
            "*thread 'worker' did not see the stop event within 1.7 s",
            "*stale frames of thread 'worker':",
            "*`worker` of version 1 at *queue_worker.py:23",
        ]
    )


def test_recursive_loop_fails_with_its_stack_growth(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_reload="""
        import pytest
        from swaplint.pytest_plugin import ReloadUnsafe, assert_reload_safe

        def test_serve():
            with pytest.raises(ReloadUnsafe) as info:
                assert_reload_safe("recursive_queue_loop.py", start="serve", messages=[1, 2], reloads=1)
            text = str(info.value)
            assert "message 3 was handled entirely by version-2 code" in text  # bare names reach new code
            assert "grew from 1 to " in text and "RecursionError" in text
            assert "`serve` of version 1" in text

        def test_cannot_run():
            with pytest.raises(ReloadUnsafe, match="could not be run: .*not a module-level function"):
                assert_reload_safe("queue_worker.py", start="nothing_here")
        """
    )
    result = _run(project)
    result.assert_outcomes(passed=2)
