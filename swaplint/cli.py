"""The ``swaplint`` command: ``check``, ``rule CODE`` and ``rules``.

Exit codes (as ruff's):

* 0 -- no findings, or ``--exit-zero``;
* 1 -- findings were reported;
* 2 -- a usage error, a bad configuration, or an internal error. A rule that crashed
  on a file, or a path that does not exist, is reported on stderr and the run goes
  on; it ends with 2 only when no finding explains a failure (findings give 1).
  ``--exit-zero`` silences findings, not those problems: they still give 2.

Adding an option to ``check``: add a ``click.option`` to :data:`CHECK_OPTIONS` and
a field of the same name to :class:`CheckOptions`; :func:`run_check` reads it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO, TypeVar

import click

from swaplint import __version__
from swaplint.config import expand_selector
from swaplint.findings import ReloadModel
from swaplint.output import FORMAT_NAMES, RunReport, SourceCache, escape_controls, get_formatter, rule_url
from swaplint.stopping import Terminated

if TYPE_CHECKING:
    from swaplint.check import Request

F = TypeVar("F", bound=Callable[..., Any])

#: Setting this environment variable shows the traceback of an internal error.
DEBUG_ENV = "SWAPLINT_DEBUG"


def _error(message: str) -> None:
    """One line on stderr, prefixed so it stands out in pre-commit and CI logs."""
    click.echo(f"swaplint: error: {escape_controls(' '.join(message.split()))}", err=True)


def _warning(message: str) -> None:
    click.echo(f"swaplint: warning: {escape_controls(' '.join(message.split()))}", err=True)


class SwaplintError(click.ClickException):
    """A problem that stops the run with exit code 2 (bad configuration, unwritable output)."""

    exit_code = 2


class SwaplintGroup(click.Group):
    """A click group whose errors are one line on stderr and whose crashes exit 2."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(args, prog_name or "swaplint", complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message(), err=True)
            code = 2
        except click.ClickException as exc:  # UsageError, BadParameter, SwaplintError
            _error(exc.format_message())
            code = 2 if isinstance(exc, click.UsageError) else exc.exit_code
        except click.Abort:
            _error("interrupted")
            code = 130
        except Terminated:
            _error("terminated")
            code = 143
        except BrokenPipeError:
            # `swaplint check | head`: the reader left. Point stdout at devnull so the
            # interpreter's final flush does not fail too, and keep the exit code.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            code = 1
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                import traceback

                traceback.print_exc()
            _error(f"internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for a traceback)")
            code = 2
        else:
            code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(cls=SwaplintGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="swaplint", message="%(prog)s %(version)s")
def cli() -> None:
    """swaplint: find loops that cannot be hot-swapped."""


def main(argv: Sequence[str] | None = None) -> None:
    """The console script ``swaplint``."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="swaplint")


# -- option helpers -------------------------------------------------------------------


def _split(values: Sequence[str]) -> tuple[str, ...]:
    """``--select A,B --select C`` -> ``(A, B, C)``."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _codes(ctx: click.Context, param: click.Parameter, value: Sequence[str]) -> tuple[str, ...] | None:
    if not value:
        return None
    codes = _split(value)
    for code in codes:
        try:
            expand_selector(code)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return codes


def _patterns(ctx: click.Context, param: click.Parameter, value: Sequence[str]) -> tuple[str, ...] | None:
    return _split(value) if value else None


def _color_enabled(no_color: bool, stream: TextIO) -> bool:
    if no_color or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _format_option(*, extra_help: str = "") -> Callable[[F], F]:
    return click.option(
        "--format",
        "--output-format",
        "output_format",
        type=click.Choice(FORMAT_NAMES, case_sensitive=False),
        default="text",
        show_default=True,
        help="Output format." + extra_help,
    )


# -- swaplint check -----------------------------------------------------------------------


class PathArgument(click.Path):
    """A path named on the command line, kept as given (shells still complete it as a path).

    Missing, unreadable and special paths are reported by the run itself, file by file;
    click's own check would ``stat`` every name first (a pre-commit run names every file).
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return value if isinstance(value, str) else os.fsdecode(value)


#: The options of ``swaplint check``, in the order ``--help`` shows them.
CHECK_OPTIONS: list[Callable[[F], F]] = [
    click.argument("paths", nargs=-1, type=PathArgument()),
    click.option(
        "--select",
        multiple=True,
        callback=_codes,
        metavar="CODES",
        help="Rule codes or prefixes to enable (comma-separated; replaces the configured selection).",
    ),
    click.option(
        "--ignore", multiple=True, callback=_codes, metavar="CODES", help="Rule codes or prefixes to disable."
    ),
    click.option(
        "--extend-select",
        multiple=True,
        callback=_codes,
        metavar="CODES",
        help="Rule codes or prefixes to enable on top of the selection.",
    ),
    click.option(
        "--exclude",
        multiple=True,
        callback=_patterns,
        metavar="PATTERNS",
        help="Gitignore-style patterns to exclude (replaces the configured and default excludes).",
    ),
    click.option(
        "--extend-exclude",
        multiple=True,
        callback=_patterns,
        metavar="PATTERNS",
        help="Gitignore-style patterns to exclude in addition to the others.",
    ),
    click.option(
        "--fix/--no-fix",
        default=None,
        help="Apply the safe fixes, in place (default: the `fix` setting).",
    ),
    click.option(
        "--unsafe-fixes/--no-unsafe-fixes",
        default=None,
        help="Apply the fixes that may change behaviour too (default: the `unsafe-fixes` setting).",
    ),
    click.option(
        "--diff",
        is_flag=True,
        help="Print the fixes as a unified diff and write nothing (exit 1 if there are any).",
    ),
    click.option("--show-fixes", is_flag=True, help="List the fixes applied, per file and rule."),
    click.option(
        "--fixable",
        multiple=True,
        callback=_codes,
        metavar="CODES",
        help="Only these rules' fixes may be applied (replaces the `fixable` setting).",
    ),
    click.option(
        "--unfixable", multiple=True, callback=_codes, metavar="CODES", help="Never apply these rules' fixes."
    ),
    click.option(
        "--add-noqa",
        is_flag=True,
        help="Add a `# noqa: CODE` to the line of every finding (to adopt swaplint on existing code).",
    ),
    _format_option(),
    click.option(
        "--output-file",
        "-o",
        type=click.Path(dir_okay=False, path_type=str),
        help="Write the output to this file instead of stdout.",
    ),
    click.option("--exit-zero", is_flag=True, help="Exit with 0 even when there are findings."),
    click.option(
        "--statistics", is_flag=True, help="Show the number of findings per rule instead of the findings."
    ),
    click.option(
        "--config",
        "config_path",
        type=click.Path(exists=True, dir_okay=False, path_type=str),
        help="Use this configuration file (pyproject.toml or swaplint.toml) instead of searching.",
    ),
    click.option("--no-color", is_flag=True, help="Never colour the output (NO_COLOR is honoured too)."),
    click.option("--quiet", "-q", is_flag=True, help="Print findings only: no summary line."),
    click.option(
        "--force-exclude",
        is_flag=True,
        help="Apply excludes to paths named on the command line too (for pre-commit).",
    ),
    click.option(
        "--stdin-filename",
        type=str,
        metavar="PATH",
        help="The name of the file read from stdin (with the path '-').",
    ),
    click.option(
        "--jobs",
        "-j",
        type=click.IntRange(min=0),
        default=None,
        metavar="N",
        help="Worker processes (default and 0: all cores; 1: no pool).",
    ),
    click.option("--no-cache", is_flag=True, help="Neither read nor write the result cache."),
    click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=str),
        metavar="DIR",
        help="Cache directory (default: $SWAPLINT_CACHE_DIR, else .swaplint_cache beside the config).",
    ),
    click.option(
        "--diff-base",
        metavar="REF",
        help="Check only files changed since the git REF (committed since the merge base, "
        "staged, unstaged, untracked).",
    ),
    click.option(
        "--verify",
        is_flag=True,
        help="Run each flagged loop through an upgrade scenario and attach a verdict (runs your "
        "code, unsandboxed). --verify=strict also drops findings the run did not reproduce.",
    ),
    click.option(
        "--verify-mode", type=click.Choice(("on", "strict"), case_sensitive=False), default="on", hidden=True
    ),
    click.option(
        "--reload-model",
        type=click.Choice([m.value for m in ReloadModel], case_sensitive=False),
        default=None,
        help="Which reload semantics findings are decided under: importlib (plain Python), "
        "runtime (swaplint.runtime), or auto (runtime for files that import it; the default).",
    ),
    click.option(
        "--max-file-size",
        type=click.IntRange(min=0),
        default=None,
        metavar="BYTES",
        help="Skip larger files with a notice (default 4 MB; 0: no limit).",
    ),
    click.option("--watch", is_flag=True, help="Check once, then re-check files as they change."),
    click.version_option(__version__, "--version", prog_name="swaplint", message="%(prog)s %(version)s"),
]


class CheckOptions(NamedTuple):
    """The parsed options of ``swaplint check`` (one field per option)."""

    paths: tuple[str, ...] = ()
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] | None = None
    output_format: str = "text"
    output_file: str | None = None
    exit_zero: bool = False
    statistics: bool = False
    config_path: str | None = None
    no_color: bool = False
    quiet: bool = False
    force_exclude: bool = False
    stdin_filename: str | None = None
    jobs: int | None = None
    no_cache: bool = False
    cache_dir: str | None = None
    diff_base: str | None = None
    verify: bool = False
    verify_mode: str = "on"
    reload_model: str | None = None
    max_file_size: int | None = None
    watch: bool = False
    fix: bool | None = None
    unsafe_fixes: bool | None = None
    diff: bool = False
    show_fixes: bool = False
    fixable: tuple[str, ...] | None = None
    unfixable: tuple[str, ...] | None = None
    add_noqa: bool = False


def check_options(func: F) -> F:
    for option in reversed(CHECK_OPTIONS):
        func = option(func)
    return func


class CheckCommand(click.Command):
    """``--verify`` is a flag, and ``--verify=MODE`` picks a mode.

    click's optional-value options would read ``--verify examples/`` as the mode
    ``examples/``, so the attached form is split here into ``--verify --verify-mode=MODE``.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                rewritten.extend(args[i:])
                break
            if arg.startswith("--verify="):
                rewritten += ["--verify", "--verify-mode", arg.split("=", 1)[1]]
            else:
                rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


@cli.command(cls=CheckCommand)
@check_options
@click.pass_context
def check(ctx: click.Context, /, **kwargs: Any) -> None:
    """Check files and directories (default: the current one) for hot-swap hazards.

    PATHS are files or directories; '-' reads source from stdin.
    """
    kwargs["output_format"] = kwargs["output_format"].lower()
    kwargs["verify_mode"] = kwargs["verify_mode"].lower()
    if kwargs["reload_model"]:
        kwargs["reload_model"] = kwargs["reload_model"].lower()
    opts = CheckOptions(**kwargs)
    if opts.watch:
        from swaplint.watch import watch

        ctx.exit(watch(opts, make_request(opts, read_stdin=False)))
    ctx.exit(run_check(opts))


def make_request(opts: CheckOptions, *, read_stdin: bool = True) -> Request:
    """The check the command line asks for (see :class:`swaplint.check.Request`)."""
    from swaplint.check import Request

    paths = opts.paths
    if opts.stdin_filename and not paths:
        paths = ("-",)  # as ruff: --stdin-filename alone reads stdin
    elif opts.stdin_filename and "-" not in paths:
        raise click.UsageError("--stdin-filename names the source read from stdin: pass '-' as the path")
    return Request(
        paths=paths,
        select=opts.select,
        ignore=opts.ignore,
        extend_select=opts.extend_select,
        exclude=opts.exclude,
        extend_exclude=opts.extend_exclude,
        config_path=opts.config_path,
        force_exclude=opts.force_exclude,
        stdin=sys.stdin.buffer.read() if read_stdin and "-" in paths else None,
        stdin_filename=opts.stdin_filename,
        jobs=opts.jobs,
        use_cache=not opts.no_cache,
        cache_dir=opts.cache_dir,
        diff_base=opts.diff_base,
        reload_model=ReloadModel(opts.reload_model) if opts.reload_model else None,
        max_file_size=opts.max_file_size,
        verify=opts.verify,
        verify_strict=opts.verify_mode == "strict",
        progress=False if opts.quiet else None,
        fix=opts.fix,
        unsafe_fixes=opts.unsafe_fixes,
        fixable=opts.fixable,
        unfixable=opts.unfixable,
        diff=opts.diff,
        add_noqa=opts.add_noqa,
    )


def run_check(opts: CheckOptions) -> int:
    """Run ``swaplint check``; returns the exit code. The work is :func:`swaplint.check.run`."""
    from swaplint.check import CheckError, run

    if opts.add_noqa and (opts.fix or opts.diff):
        raise click.UsageError("--add-noqa cannot be combined with --fix or --diff")
    if opts.add_noqa and "-" in opts.paths:
        raise click.UsageError("--add-noqa changes files: it cannot read stdin")
    request = make_request(opts)
    try:
        outcome = run(request)
    except CheckError as exc:
        raise SwaplintError(str(exc)) from None
    if opts.diff:
        return _report_diff(outcome, opts)
    if opts.add_noqa:
        for notice in outcome.notices:
            _warning(notice)
        n = outcome.noqa_added
        click.echo(f"Added {n} noqa directive{'' if n == 1 else 's'}.", err=True)
        return 2 if outcome.errors or outcome.missing else 0
    if outcome.fixed_stdin is not None:
        sys.stdout.write(outcome.fixed_stdin)  # as ruff: the fixed source, and the rest on stderr
        sys.stdout.flush()
        opts = opts._replace(output_file=None, quiet=True)
        return _report_fixed(outcome, opts, stream=sys.stderr)

    findings = outcome.findings
    errors = outcome.errors
    for path in outcome.missing:
        _error(f"path not found: {path}")
    for notice in outcome.notices:
        _warning(notice)
    for err in errors:
        if err.code == "engine":
            _error(f"the engine crashed on {err.path}: {err.error}")
        else:
            _error(f"rule {err.code} crashed on {err.path}: {err.error}")

    sources = SourceCache()
    for display, disk in outcome.disk_paths.items():
        sources.add_file(display, disk)
    for display, text in outcome.texts.items():
        sources.add_text(display, text)
    output = open_output(opts.output_file)
    try:
        report = RunReport(
            findings=findings,
            errors=errors,
            files_checked=len(outcome.results),
            missing=list(outcome.missing),
            sources=sources,
            root=outcome.root,
            config_root=outcome.config_root,
            color=opts.output_file is None and _color_enabled(opts.no_color, output),
            quiet=opts.quiet,
        )
        if opts.statistics:
            write_statistics(report, output, opts.output_format)
        else:
            get_formatter(opts.output_format)(report, output)
            _fix_hint(outcome, opts, output)
        output.flush()
    finally:
        if output is not sys.stdout and opts.output_file is not None:
            output.close()

    _fix_summary(outcome, opts)
    if findings and not opts.exit_zero:
        return 1
    if errors or outcome.missing:
        return 2
    return 0


def _fix_summary(outcome: Any, opts: CheckOptions) -> None:
    """What ``--fix`` did (on stderr, so that JSON and SARIF output stay whole)."""
    total = sum(sum(c.values()) for c in outcome.fixed.values())
    if not opts.quiet and total:
        click.echo(f"Fixed {total} finding{'' if total == 1 else 's'}.", err=True)
    if opts.show_fixes and total:
        _list_fixes(outcome.fixed)


def _fix_hint(outcome: Any, opts: CheckOptions, output: TextIO) -> None:
    """After a text report, as ruff's: how many findings ``--fix`` could fix."""
    if opts.quiet or opts.output_format not in ("text", "concise", "full"):
        return
    fixable = [f for f in outcome.findings if f.fix is not None and f.fix.applicable]
    safe = sum(1 for f in fixable if f.fix.applicability == "safe")
    unsafe = len(fixable) - safe
    if opts.fix and not opts.unsafe_fixes and unsafe:
        output.write(f"[*] {unsafe} more fixable with `--unsafe-fixes`.\n")
    elif not opts.fix and (safe or unsafe):
        hint = f"{safe} fixable with `--fix`" if safe else "No safe fixes"
        if unsafe:
            hint += f" ({unsafe} more with `--fix --unsafe-fixes`)"
        output.write(f"[*] {hint}.\n")


def _list_fixes(fixed: dict[str, Any]) -> None:
    from swaplint.rules import RULES_BY_CODE

    click.echo("Fixes applied:", err=True)
    for path in sorted(fixed):
        click.echo(f"- {path}:", err=True)
        for code, count in sorted(fixed[path].items()):
            click.echo(f"    {count} × {code} ({RULES_BY_CODE[code].name})", err=True)


def _report_diff(outcome: Any, opts: CheckOptions) -> int:
    """``--diff``: the fixes as one patch on stdout; a summary on stderr."""
    for notice in outcome.notices:
        _warning(notice)
    for path in outcome.missing:
        _error(f"path not found: {path}")
    output = open_output(opts.output_file)
    try:
        for path in sorted(outcome.diffs):
            output.write(outcome.diffs[path])
        output.flush()
    finally:
        if output is not sys.stdout and opts.output_file is not None:
            output.close()
    total = sum(sum(c.values()) for c in outcome.fixed.values())
    if not opts.quiet:
        files = len(outcome.diffs)
        click.echo(
            f"Would fix {total} finding{'' if total == 1 else 's'} in {files} file{'' if files == 1 else 's'}.",
            err=True,
        )
    if opts.show_fixes and total:
        _list_fixes(outcome.fixed)
    if outcome.errors or outcome.missing:
        return 2
    return 1 if outcome.diffs and not opts.exit_zero else 0


def _report_fixed(outcome: Any, opts: CheckOptions, *, stream: TextIO) -> int:
    """The report of a fixed stdin: remaining findings, concise, on ``stream``."""
    for finding in outcome.findings:
        stream.write(f"{finding.path}:{finding.line}:{finding.column}: {finding.code} {finding.message}\n")
    _fix_summary(outcome, opts)
    if outcome.findings and not opts.exit_zero:
        return 1
    return 2 if outcome.errors else 0


def open_output(path: str | None) -> TextIO:
    if path is None:
        return sys.stdout
    try:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise SwaplintError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_statistics(report: RunReport, stream: TextIO, output_format: str) -> None:
    """``--statistics``: the number of findings per rule (JSON with ``--format json``)."""
    from swaplint.rules import RULES

    counts: dict[str, int] = {}
    for finding in report.findings:
        counts[finding.code] = counts.get(finding.code, 0) + 1
    rows = [
        {"code": r.code, "name": r.name, "severity": r.severity.value, "count": counts[r.code]}
        for r in RULES
        if r.code in counts
    ]
    rows += [
        {"code": c, "name": "", "severity": "", "count": n}
        for c, n in sorted(counts.items())
        if c not in {r["code"] for r in rows}
    ]
    rows.sort(key=lambda r: (-int(r["count"]), str(r["code"])))
    if output_format == "json":
        import json

        json.dump(rows, stream, indent=2)
        stream.write("\n")
        return
    width = max((len(str(r["count"])) for r in rows), default=1)
    for row in rows:
        stream.write(f"{str(row['count']).rjust(width)}  {row['code']}  {row['name']}\n")
    if not report.quiet:
        stream.write(report.summary() + "\n")


# -- swaplint rule / rules ---------------------------------------------------------------


def _rule_json(rule: Any) -> dict[str, Any]:
    return {
        "code": rule.code,
        "name": rule.name,
        "severity": rule.severity.value,
        "summary": rule.summary(),
        "url": rule_url(rule.code),
        "doc": rule.doc(),
    }


def _get_rule(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    from swaplint.rules import get_rule

    try:
        return get_rule(value.strip())
    except KeyError:
        raise click.BadParameter(f"unknown rule code '{value}'", ctx=ctx, param=param) from None


@cli.command("rule")
@click.argument("code", callback=_get_rule)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(("text", "json"), case_sensitive=False),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("--no-color", is_flag=True, help="Never colour the output.")
def rule_command(code: Any, output_format: str, no_color: bool) -> None:
    """Show the documentation of a rule, e.g. swaplint rule SWL001."""
    rule = code
    stdout = sys.stdout
    if output_format.lower() == "json":
        import json

        json.dump(_rule_json(rule), stdout, indent=2)
        stdout.write("\n")
        return
    from rich.markdown import Markdown

    from swaplint.output.text import make_console

    console = make_console(stdout, _color_enabled(no_color, stdout), wrap=True)
    header = (
        f"# {rule.code} {rule.name}\n\nSeverity: **{rule.severity.value}**. Docs: <{rule_url(rule.code)}>\n\n"
    )
    console.print(Markdown(header + rule.doc()))


@cli.command("server")
@click.option(
    "--stdio",
    is_flag=True,
    hidden=True,
    help="Accepted for LSP clients that pass it (stdio is the only transport).",
)
def server_command(stdio: bool) -> None:
    """Run the language server (LSP over stdin/stdout) for editors."""
    from swaplint.server import main as serve

    serve()


@cli.command("rules")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(("text", "json"), case_sensitive=False),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("--no-color", is_flag=True, help="Never colour the output.")
def rules_command(output_format: str, no_color: bool) -> None:
    """List every rule: code, name, severity and what it flags."""
    from swaplint.rules import RULES

    stdout = sys.stdout
    if output_format.lower() == "json":
        import json

        json.dump([_rule_json(r) for r in RULES], stdout, indent=2)
        stdout.write("\n")
        return
    from rich.table import Table
    from rich.text import Text

    from swaplint.output.text import make_console, severity_style

    table = Table(show_lines=False, header_style="bold")
    table.add_column("Code", no_wrap=True)
    table.add_column("Name", no_wrap=True)
    table.add_column("Severity", no_wrap=True)
    table.add_column("Summary")
    for rule in RULES:
        table.add_row(
            rule.code,
            rule.name,
            Text(rule.severity.value, style=severity_style(rule.severity)),
            rule.summary(),
        )
    console = make_console(stdout, _color_enabled(no_color, stdout), wrap=True)
    console.print(table)


if __name__ == "__main__":  # python -m swaplint.cli
    main()
