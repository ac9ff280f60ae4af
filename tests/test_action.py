"""The GitHub Action: action.yml's composite steps, run locally as the runner would run them.

The steps' ``run:`` scripts are read from action.yml and run with bash, with the
environment the runner gives composite steps (``GITHUB_ACTION_PATH``, ``RUNNER_TEMP``,
``GITHUB_OUTPUT``, ``GITHUB_PATH``) and each step's ``env:`` evaluated from the
inputs and earlier steps' outputs. Nothing is downloaded: the install step installs
a copy of this checkout with ``pip-args: --no-index --no-build-isolation``, and the
dependencies are found on ``PYTHONPATH`` (this interpreter's site-packages).
The ``uses:`` step (upload-sarif) is not run; its ``if:`` is evaluated.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((REPO / "action.yml").read_text())
#: Every step's subprocess is bounded by this many seconds.
TIMEOUT = 300

HAZARD = (
    "def worker(q):\n    while True:\n        job = q.get()\n        print(job)\n\n\n"
    "class Pump:\n    def run(self):\n        while True:\n            self.step(self.q.get(timeout=1))\n"
)
CLEAN = "def worker(q):\n    return q\n"

#: The steps after the install step (which the ``runner`` fixture runs once).
AFTER_INSTALL = {step["name"] for step in ACTION["runs"]["steps"][1:]}

_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_REF = re.compile(r"\b(inputs\.[\w-]+|steps\.[\w-]+\.outputs\.[\w-]+)")


@dataclass
class Runner:
    """Just enough of the Actions runner to run a composite action's steps."""

    action_path: Path
    temp: Path
    workspace: Path
    env: dict[str, str]
    path_entries: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)

    def value(self, ref: str, inputs: dict[str, str]) -> str:
        parts = ref.split(".")
        if parts[0] == "inputs":
            declared = ACTION["inputs"][parts[1]]  # KeyError: an undeclared input
            return inputs.get(parts[1], str(declared.get("default", "")))
        return self.outputs.get(parts[1], {}).get(parts[3], "")

    def evaluate(self, text: str, inputs: dict[str, str]) -> str:
        """``${{ inputs.x }}`` and ``${{ steps.id.outputs.x }}`` substituted."""

        def one(match: re.Match[str]) -> str:
            expr = match.group(1)
            assert _REF.fullmatch(expr), f"unsupported expression {expr!r}"
            return self.value(expr, inputs)

        return _EXPR.sub(one, text)

    def condition(self, text: str, inputs: dict[str, str]) -> bool:
        """An ``if:`` made of ``A == B`` and ``A != B`` clauses joined by ``&&``."""
        expr = _EXPR.fullmatch(text.strip())
        body = expr.group(1) if expr else text

        def operand(token: str) -> str:
            token = token.strip()
            if token.startswith("'") and token.endswith("'"):
                return token[1:-1]
            assert _REF.fullmatch(token), f"unsupported operand {token!r}"
            return self.value(token, inputs)

        result = True
        for clause in body.split("&&"):
            match = re.fullmatch(r"(.+?)\s*(==|!=)\s*(.+)", clause.strip())
            assert match, f"unsupported condition {clause!r}"
            equal = operand(match.group(1)) == operand(match.group(3))
            result = result and (equal if match.group(2) == "==" else not equal)
        return result

    def run(self, inputs: dict[str, str], only: set[str] | None = AFTER_INSTALL) -> int:
        """Run the action's steps (or only those named ``only``); the first failure's code."""
        for index, step in enumerate(ACTION["runs"]["steps"]):
            if only is not None and step["name"] not in only:
                continue
            if "if" in step and not self.condition(step["if"], inputs):
                continue
            if "uses" in step:
                self.logs.append(
                    f"would run {step['uses']} with {self.evaluate(json.dumps(step['with']), inputs)}"
                )
                continue
            assert step["shell"] == "bash"
            output_file = self.temp / f"output-{index}"
            path_file = self.temp / f"path-{index}"
            output_file.write_text("")
            path_file.write_text("")
            env = {
                **self.env,
                "GITHUB_ACTION_PATH": str(self.action_path),
                "RUNNER_TEMP": str(self.temp),
                "GITHUB_OUTPUT": str(output_file),
                "GITHUB_PATH": str(path_file),
                "PATH": os.pathsep.join([*self.path_entries, self.env["PATH"]]),
            }
            env.update({k: self.evaluate(str(v), inputs) for k, v in step.get("env", {}).items()})
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=self.workspace,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
            self.logs.append(proc.stdout + proc.stderr)
            if "id" in step:
                pairs = (line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line)
                self.outputs[step["id"]] = dict(pairs)
            self.path_entries[:0] = reversed(path_file.read_text().split())
            if proc.returncode != 0:
                return proc.returncode
        return 0


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """A runner whose install step has run once (installing a copy of this checkout)."""
    root = tmp_path_factory.mktemp("action")
    action_path = root / "swaplint-action"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".*")
    action_path.mkdir()
    for name in ("action.yml", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, action_path / name)
    for name in ("swaplint", "scripts"):
        shutil.copytree(REPO / name, action_path / name, ignore=ignore)
    (root / "temp").mkdir()
    (root / "work").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        PYTHONPATH=os.pathsep.join(site.getsitepackages()),  # the dependencies, offline
        PIP_NO_INDEX="1",
        SWAPLINT_CACHE_DIR=str(root / "cache"),
    )
    runner = Runner(action_path, root / "temp", root / "work", env)
    code = runner.run(
        {"pip-args": "--no-index --no-build-isolation", "python": sys.executable},
        only={"Install swaplint"},
    )
    assert code == 0, runner.logs
    return runner


def test_the_install_step_installs_the_actions_own_checkout(runner: Runner) -> None:
    (swaplint,) = [Path(p) / "swaplint" for p in runner.path_entries if (Path(p) / "swaplint").exists()]
    assert swaplint.is_relative_to(runner.temp)  # into a virtualenv in RUNNER_TEMP
    python = swaplint.parent / "python"
    where = subprocess.run(
        [python, "-c", "import swaplint; print(swaplint.__file__)"],
        cwd=runner.workspace,
        env=runner.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    ).stdout
    assert Path(where.strip()).is_relative_to(runner.temp)  # the copy, not this checkout


def test_findings_write_sarif_and_fail_the_job(runner: Runner) -> None:
    work = runner.workspace
    for child in work.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    (work / "src").mkdir()
    (work / "src" / "worker.py").write_text(HAZARD)
    (work / "src" / "clean.py").write_text(CLEAN)
    (work / "other.py").write_text(HAZARD)  # not under `paths`

    runner.logs.clear()
    code = runner.run({"paths": "src", "args": "--select SWL003", "sarif-file": "out/swaplint.sarif"})
    assert code == 1, runner.logs  # findings fail the job, after the upload
    assert runner.outputs["check"] == {"exit-code": "1", "sarif-file": "out/swaplint.sarif"}
    sarif = json.loads((work / "out" / "swaplint.sarif").read_text())
    results = sarif["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["SWL003"]  # args reached swaplint
    location = results[0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "src/worker.py"
    assert location["region"]["startLine"] == 3
    upload = [log for log in runner.logs if log.startswith("would run github/codeql-action/upload-sarif")]
    assert len(upload) == 1 and '"sarif_file": "out/swaplint.sarif"' in upload[0]
    assert "::warning" in "".join(runner.logs)  # annotations in the log
    assert "src/worker.py" in "".join(runner.logs)


def test_clean_code_passes_and_upload_can_be_turned_off(runner: Runner) -> None:
    work = runner.workspace
    for child in work.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    (work / "clean.py").write_text(CLEAN)
    runner.logs.clear()
    assert runner.run({"upload-sarif": "false"}) == 0, runner.logs
    assert runner.outputs["check"]["exit-code"] == "0"
    assert json.loads((work / "swaplint.sarif").read_text())["runs"][0]["results"] == []
    assert not any(log.startswith("would run") for log in runner.logs)


def test_exit_zero_in_args_keeps_the_job_green(runner: Runner) -> None:
    work = runner.workspace
    (work / "bad.py").write_text(HAZARD)
    runner.logs.clear()
    assert runner.run({"args": "--exit-zero"}) == 0, runner.logs
    assert len(json.loads((work / "swaplint.sarif").read_text())["runs"][0]["results"]) == 2


def test_a_usage_error_fails_with_2_and_uploads_nothing(runner: Runner) -> None:
    runner.logs.clear()
    assert runner.run({"args": "--select NOPE1"}) == 2, runner.logs
    assert runner.outputs["check"] == {"exit-code": "2"}
    assert not any(log.startswith("would run") for log in runner.logs)


def test_the_documented_workflow_uses_the_actions_inputs() -> None:
    """docs/editors.md's workflow is valid YAML that passes only declared inputs."""
    docs = (REPO / "docs" / "editors.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", docs, re.DOTALL)
    workflows = [yaml.safe_load(b) for b in blocks if "jobs:" in b]
    assert workflows, "no workflow example in docs/editors.md"
    for workflow in workflows:
        steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
        (ours,) = [s for s in steps if s.get("uses", "").startswith("swaplint/swaplint@")]
        uses = [s.get("uses", "") for s in steps]
        assert uses.index("actions/checkout@v4") < steps.index(ours)  # swaplint checks the checkout
        assert set(ours.get("with", {})) <= set(ACTION["inputs"])
        permissions: dict[str, Any] = next(iter(workflow["jobs"].values())).get("permissions", {})
        if str(ours.get("with", {}).get("upload-sarif", "true")) == "true":
            assert permissions.get("security-events") == "write"
