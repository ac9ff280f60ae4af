"""The pre-commit hook, driven by the real ``pre-commit try-repo`` against this checkout.

``pre-commit try-repo <dir>`` clones the hook repository at its HEAD; with
uncommitted changes it adds the staged and *modified tracked* files, but never
untracked ones (see ``pre_commit/commands/try_repo.py``). So that the test checks
this working tree as it is (new files included), it snapshots the checkout's files
(``git ls-files --cached --others --exclude-standard``, read-only) into a temporary
git repository and points try-repo at that. The hook's virtualenv installs swaplint
from the snapshot, which needs PyPI: set SWAPLINT_SKIP_SLOW=1 to skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CLEAN, FLAGGED, REPO_ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(os.environ.get("SWAPLINT_SKIP_SLOW")), reason="SWAPLINT_SKIP_SLOW is set"),
]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "swaplint tests",
    "GIT_AUTHOR_EMAIL": "tests@swaplint.invalid",
    "GIT_COMMITTER_NAME": "swaplint tests",
    "GIT_COMMITTER_EMAIL": "tests@swaplint.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path, env: dict[str, str]) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def hook_env(tmp_path_factory) -> dict[str, str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    base = tmp_path_factory.mktemp("precommit")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRE_COMMIT", "GIT_"))}
    env.update(GIT_ENV)
    env["PRE_COMMIT_HOME"] = str(base / "cache")
    env["HOME"] = str(base / "home")
    (base / "home").mkdir()
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory, hook_env) -> Path:
    """A committed snapshot of this checkout's files (tracked and new, not ignored)."""
    snapshot = tmp_path_factory.mktemp("hookrepo")
    if (REPO_ROOT / ".git").exists():
        listed = git(
            "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO_ROOT, env=hook_env
        )
        files = [f for f in listed.split("\0") if f and (REPO_ROOT / f).is_file()]
    else:  # e.g. an sdist: copy the package and the packaging files
        files = [
            str(p.relative_to(REPO_ROOT))
            for p in REPO_ROOT.rglob("*")
            if p.is_file() and ".venv" not in p.parts and "__pycache__" not in p.parts
        ]
    assert ".pre-commit-hooks.yaml" in files
    for rel in files:
        target = snapshot / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, target)
    git("init", "-q", cwd=snapshot, env=hook_env)
    git("add", "-A", cwd=snapshot, env=hook_env)
    git("commit", "-q", "-m", "snapshot", cwd=snapshot, env=hook_env)
    return snapshot


def test_hook_fails_on_flagged_file_and_passes_on_clean_one(tmp_path, hook_repo, hook_env):
    work = tmp_path / "user-repo"
    work.mkdir()
    (work / "server.py").write_text(FLAGGED)
    (work / "counter.py").write_text(CLEAN)
    git("init", "-q", cwd=work, env=hook_env)
    git("add", "-A", cwd=work, env=hook_env)

    def try_repo(*files: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pre_commit",
                "try-repo",
                str(hook_repo),
                "swaplint",
                "--verbose",
                "--color",
                "never",
                "--files",
                *files,
            ],
            cwd=work,
            env=hook_env,
            capture_output=True,
            text=True,
            timeout=1800,
        )

    flagged = try_repo("server.py")
    assert flagged.returncode == 1, flagged.stdout + flagged.stderr
    assert "swaplint" in flagged.stdout and "Failed" in flagged.stdout
    assert "SWL002" in flagged.stdout and "SWL003" in flagged.stdout

    clean = try_repo("counter.py")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "Passed" in clean.stdout
