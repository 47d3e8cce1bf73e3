"""`provider-fallback service install | uninstall | start | stop | status | logs`."""

from __future__ import annotations

import dataclasses
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from ..errors import Facts
from ..service import (
    PLATFORMS,
    Action,
    ServicePlan,
    actions_for,
    build_plan,
    execute,
    manager_name,
    platform_key,
    run_service,
    service_status,
    unseen_variables,
)
from ..service._manage import definition_path, follow_log, tail_log
from ._common import console, err_console, fail, friendly_errors

__all__ = ["service_app"]

service_app = typer.Typer(
    help="Run the gateway at logon: a per-user Task Scheduler task (Windows), systemd user "
         "unit (Linux) or launchd agent (macOS). No administrator rights needed.",
    no_args_is_help=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The gateway's config file")]
NameOpt = Annotated[str, typer.Option("--name", help="Task / unit name (one per gateway)")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print what would be written and "
                                         "run; change nothing")]
PlatformOpt = Annotated[str | None, typer.Option(
    "--platform", help=f"Render for another OS ({', '.join(PLATFORMS)}); with --dry-run only")]


def _plan(config: Path, name: str, platform: str | None, dry_run: bool,
          workers: int = 1) -> ServicePlan:
    target = platform_key(platform or sys.platform)
    if target != platform_key() and not dry_run:
        raise fail(f"--platform {target} can only be rendered here, not installed",
                   code="invalid_request", fix="add --dry-run", exit_code=2)
    with friendly_errors(Facts.of(config=config)):
        try:
            plan = build_plan(config, name=name, platform=platform or sys.platform)
        except ValueError as exc:
            raise fail(str(exc), code="invalid_request", exit_code=2) from None
    return dataclasses.replace(plan, workers=workers) if workers > 1 else plan


def _show(actions: list[Action]) -> None:
    for action in actions:
        console.print(f"would {action.describe()}" + (f"  # {action.why}" if action.why else ""),
                      markup=False, soft_wrap=True)
        if action.kind == "write":
            for line in action.content.splitlines():
                console.print(f"    {line}", markup=False, soft_wrap=True)


def _do(plan: ServicePlan, operation: str, dry_run: bool, *, start: bool = True) -> None:
    actions = actions_for(plan, operation, start=start)
    if dry_run:
        _show(actions)
        return
    outcome = execute(actions)
    if not outcome.ok:
        assert outcome.failed is not None
        raise fail(f"{outcome.failed.describe()} failed: {outcome.output or 'no output'}",
                   code="service_failed",
                   fix=f"see `provider-fallback errors service_failed`; the gateway's own "
                       f"log is {plan.log_file}")


@service_app.command()
def install(config: ConfigOpt = Path("provider_config.yaml"), name: NameOpt = "provider-fallback",
            dry_run: DryRunOpt = False, platform: PlatformOpt = None,
            start: Annotated[bool, typer.Option(help="Start it now too")] = True,
            workers: Annotated[int, typer.Option(min=1, help="serve --workers")] = 1) -> None:
    """Run `serve --config FILE` at every logon (hidden, restarted on failure)."""
    plan = _plan(config, name, platform, dry_run, workers)
    for variable in unseen_variables(Path(plan.config), plan.platform):
        hint = f' or `setx {variable} "..."`' if plan.platform == "windows" else ""
        err_console.print(f"warning [env_var_missing] the service will not see {variable}: it "
                          f"is not in {Path(plan.config).parent / '.env'} (a service does not "
                          f"see variables set in a terminal); add `{variable}=...` there{hint}",
                          markup=False, soft_wrap=True)
    _do(plan, "install", dry_run, start=start)
    if dry_run:
        return
    where = definition_path(plan)
    console.print(f"installed {plan.name} ({manager_name(plan.platform)}"
                  + (f": {where}" if where else "") + f"): runs `serve --config {plan.config}` "
                  f"at logon{' and is starting now' if start else ''}", markup=False,
                  soft_wrap=True)
    console.print(f"log: {plan.log_file}  (provider-fallback service logs / status / stop)",
                  markup=False, soft_wrap=True)
    if plan.platform == "linux":
        console.print("to keep it running when you are logged out: loginctl enable-linger",
                      markup=False)


@service_app.command()
def uninstall(config: ConfigOpt = Path("provider_config.yaml"),
              name: NameOpt = "provider-fallback", dry_run: DryRunOpt = False,
              platform: PlatformOpt = None) -> None:
    """Stop it and remove it from the service manager."""
    plan = _plan(config, name, platform, dry_run)
    _do(plan, "uninstall", dry_run)
    if not dry_run:
        console.print(f"uninstalled {plan.name}; its log stays in {plan.log_file}", markup=False)


@service_app.command("start")
def start_(config: ConfigOpt = Path("provider_config.yaml"),
           name: NameOpt = "provider-fallback", dry_run: DryRunOpt = False,
           platform: PlatformOpt = None) -> None:
    """Start the installed service now."""
    plan = _plan(config, name, platform, dry_run)
    _do(plan, "start", dry_run)
    if not dry_run:
        console.print(f"started {plan.name}; `provider-fallback service status` shows whether "
                      "it answers", markup=False)


@service_app.command()
def stop(config: ConfigOpt = Path("provider_config.yaml"),
         name: NameOpt = "provider-fallback", dry_run: DryRunOpt = False,
         platform: PlatformOpt = None) -> None:
    """Stop it (and the upstreams it supervises) until the next logon or `start`."""
    plan = _plan(config, name, platform, dry_run)
    _do(plan, "stop", dry_run)
    if not dry_run:
        console.print(f"stopped {plan.name}", markup=False)


@service_app.command()
def status(config: ConfigOpt = Path("provider_config.yaml"),
           name: NameOpt = "provider-fallback") -> None:
    """Installed? Running (pid)? Answering on its port? Exit 0 only when it answers."""
    plan = _plan(config, name, None, False)
    st = service_status(plan)
    console.print(f"{plan.name} ({manager_name(plan.platform)}): "
                  f"{'installed' if st.installed else 'not installed'}", markup=False)
    for line in st.manager_says.splitlines():
        console.print(f"  {line}", markup=False, soft_wrap=True)
    console.print(f"process: {f'pid {st.pid}' if st.pid else 'not running'}", markup=False)
    console.print(f"answers: {st.answering}", markup=False, soft_wrap=True)
    console.print(f"log: {st.log_file}", markup=False, soft_wrap=True)
    if not (st.answering or "").endswith("HTTP 200"):
        raise typer.Exit(1)


@service_app.command()
def logs(config: ConfigOpt = Path("provider_config.yaml"), name: NameOpt = "provider-fallback",
         lines: Annotated[int, typer.Option("--lines", "-n", help="How many last lines")] = 50,
         follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines "
                                              "until Ctrl-C")] = False) -> None:
    """The gateway's output, from the log file under the data directory."""
    plan = _plan(config, name, None, False)
    path = Path(plan.log_file)
    if not path.exists():
        raise fail(f"no log yet at {path}", code="service_failed",
                   fix="start it: `provider-fallback service start` (or `service install`)")
    for line in tail_log(path, lines):
        console.print(line, markup=False, soft_wrap=True, highlight=False)
    if follow:
        try:
            for line in follow_log(path):
                console.print(line, markup=False, soft_wrap=True, highlight=False)
        except KeyboardInterrupt:
            return


@service_app.command(hidden=True)
def run(config: ConfigOpt = Path("provider_config.yaml"),
        log_file: Annotated[Path, typer.Option("--log-file")] = Path("gateway.log"),
        pid_file: Annotated[Path, typer.Option("--pid-file")] = Path("gateway.pid"),
        restart: Annotated[bool, typer.Option("--restart")] = False,
        workers: Annotated[int, typer.Option(min=1)] = 1,
        backoff: Annotated[float, typer.Option(hidden=True)] = 5.0) -> None:
    """What the service manager starts: serve, output to the log file, pid to the pid file."""
    from ._serve import serve

    def once() -> int:
        try:
            serve(config=config, host=None, port=None, log_level=None, log_format=None,
                  strict=False, workers=workers)
        except typer.Exit as exc:
            return int(exc.exit_code or 0)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
        except Exception:   # into the log, and (with --restart) started again
            traceback.print_exc()
            return 1
        return 0

    code = run_service(once, log_file=log_file, pid_file=pid_file, restart=restart,
                       backoff=backoff)
    raise typer.Exit(code)
