#!/usr/bin/env bash
# The steps of the swaplint GitHub Action (action.yml): `install`, `check`, `finish`.
#
# Every input comes in as an environment variable (composite actions pass none by
# themselves, so action.yml maps each one):
#   INPUT_PATHS         files or directories to check (split on whitespace; default ".")
#   INPUT_ARGS          more `swaplint check` options (split on whitespace; no --format/-o)
#   INPUT_VERSION       a swaplint version from PyPI; empty: the action's own checkout
#   INPUT_PIP_ARGS      more `pip install` options (e.g. "--no-index" on a runner without PyPI)
#   INPUT_PYTHON        the Python that makes the virtualenv (default: python3, else python)
#   INPUT_SARIF_FILE    where the SARIF log goes (default: swaplint.sarif)
#   INPUT_EXIT_CODE     (finish) the exit code of the check step
# and the runner's GITHUB_ACTION_PATH, RUNNER_TEMP, GITHUB_PATH and GITHUB_OUTPUT.
#
# Exit status: `install` fails if swaplint cannot be installed. `check` never fails,
# so the SARIF log is uploaded even when there are findings; it records swaplint's
# exit code (0 clean, 1 findings, 2 error) as the step output `exit-code`, and
# `finish` then exits with it.
set -euo pipefail

install() {
    local python="${INPUT_PYTHON:-}"
    if [ -z "$python" ]; then
        python="$(command -v python3 || command -v python)"
    fi
    local venv="${RUNNER_TEMP:?}/swaplint-venv"
    "$python" -m venv "$venv"
    local bin="$venv/bin"
    if [ -d "$venv/Scripts" ]; then bin="$venv/Scripts"; fi # Windows
    local spec
    if [ -n "${INPUT_VERSION:-}" ]; then
        spec="swaplint==${INPUT_VERSION#v}"
    else
        spec="${GITHUB_ACTION_PATH:?}"
    fi
    # shellcheck disable=SC2086 # INPUT_PIP_ARGS is a list of options
    "$bin/python" -m pip install --quiet --disable-pip-version-check ${INPUT_PIP_ARGS:-} "$spec"
    echo "$bin" >>"${GITHUB_PATH:?}"
    "$bin/swaplint" --version
}

check() {
    local sarif="${INPUT_SARIF_FILE:-swaplint.sarif}"
    local status=0
    rm -f "$sarif"
    # shellcheck disable=SC2086 # INPUT_ARGS and INPUT_PATHS are lists
    swaplint check --format sarif --output-file "$sarif" ${INPUT_ARGS:-} -- ${INPUT_PATHS:-.} || status=$?
    echo "exit-code=$status" >>"${GITHUB_OUTPUT:?}"
    if [ -s "$sarif" ]; then
        echo "sarif-file=$sarif" >>"$GITHUB_OUTPUT"
        # The same findings in the log, as annotations on the flagged lines (the cache
        # makes this second pass cheap).
        # shellcheck disable=SC2086
        swaplint check --format github --exit-zero --quiet ${INPUT_ARGS:-} -- ${INPUT_PATHS:-.} || true
    fi
    echo "swaplint exited with $status"
}

finish() {
    exit "${INPUT_EXIT_CODE:-2}"
}

case "${1:-}" in
install | check | finish) "$1" ;;
*)
    echo "usage: $0 install|check|finish" >&2
    exit 2
    ;;
esac
