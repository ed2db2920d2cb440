"""``kpi-warehouse``: run the pipeline headless, make demo data, render scorecards.

Every command runs the same Dagster definitions the UI shows. Errors are printed as one
sentence (``--traceback`` shows the rest); the exit code is 0 only when the command did
what it says.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

from orchestration.settings import PROJECT_ROOT, Settings, published_path_for

DEMO_DIR = PROJECT_ROOT / "var" / "demo"


class CliError(Exception):
    """A failure the user can act on; its message is the one sentence we print."""


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _parse_date(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a date of the form YYYY-MM-DD"
        ) from None


def _parse_month(value: str) -> str:
    try:
        return date.fromisoformat(value + "-01").strftime("%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a month of the form YYYY-MM") from None


# --- run --------------------------------------------------------------------------------


def _failure_sentence(result, settings: Settings) -> str:
    """One sentence naming what failed, from the run's events."""
    from dagster import AssetCheckSeverity, DagsterEventType

    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR:
                asset = "/".join(evaluation.asset_key.path)
                detail = evaluation.description or "see the check's metadata in the Dagster UI"
                return f"Blocking check {evaluation.check_name} on {asset} failed: {detail}."
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_FAILURE:
            data = event.event_specific_data
            if data.user_failure_data and data.user_failure_data.description:
                return data.user_failure_data.description
            error = data.error
            while error is not None and error.cause is not None and "dbt" not in error.message:
                error = error.cause
            message = (error.message if error else "unknown error").strip().splitlines()[0]
            return f"Step {event.step_key} failed: {message}"
    return "The pipeline run failed."


def run_pipeline(settings: Settings, verbose: bool = False) -> Path:
    """Run the whole pipeline through the Dagster definitions; the published copy's path."""
    if not settings.landing_dir.is_dir():
        raise CliError(f"Landing directory {settings.landing_dir} does not exist.")
    # Dagster, dbt and the definitions read the paths from the environment as well.
    os.environ["KPI_LANDING_DIR"] = str(settings.landing_dir)
    os.environ["KPI_WAREHOUSE_PATH"] = str(settings.warehouse_path)
    os.environ["KPI_PUBLISHED_PATH"] = str(settings.published_path)
    if settings.as_of:
        os.environ["KPI_AS_OF"] = settings.as_of
    else:
        os.environ.pop("KPI_AS_OF", None)

    _progress("loading the Dagster definitions (parsing the dbt project if it changed)")
    from dagster import DagsterInstance

    from orchestration.definitions import PIPELINE_JOB, build_definitions

    defs = build_definitions(settings)
    job = defs.resolve_job_def(PIPELINE_JOB)
    instance = (
        DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
    )
    _progress(
        f"running {PIPELINE_JOB}: {settings.landing_dir} -> {settings.warehouse_path}"
        + (f" (as of {settings.as_of})" if settings.as_of else "")
    )
    started = time.monotonic()
    # Progress and dbt's log go to stderr: stdout carries only the results.
    with contextlib.redirect_stdout(sys.stderr):
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={
                "loggers": {
                    "console": {
                        "config": {
                            "log_level": "DEBUG" if verbose else "INFO",
                            "tracebacks": verbose,
                        }
                    }
                }
            },
        )
    if not result.success:
        raise CliError(
            _failure_sentence(result, settings)
            + f" Nothing was published; the previous copy at {settings.published_path} is unchanged"
            " (rerun with --verbose for the full log; invalid rows are in ingest.quarantine)."
        )
    _progress(f"pipeline succeeded in {time.monotonic() - started:.1f} s")
    return settings.published_path


def _settings_for(landing_dir: Path, warehouse: Path, as_of: str | None) -> Settings:
    warehouse = warehouse.expanduser().resolve()
    base = Settings.from_env()
    return replace(
        base,
        landing_dir=landing_dir.expanduser().resolve(),
        warehouse_path=warehouse,
        published_path=published_path_for(warehouse),
        as_of=as_of,
    )


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings_for(args.landing_dir, args.warehouse, args.as_of)
    published = run_pipeline(settings, verbose=args.verbose)
    print(f"published: {published}")
    return 0


# --- generate / demo ----------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace) -> int:
    from orchestration.demo.generator import generate

    _progress(f"generating demo landing data at scale {args.scale} (seed {args.seed})")
    summary = generate(args.out, scale=args.scale, seed=args.seed)
    _progress(
        f"wrote {summary.files_written} delivery files, {summary.total_rows:,} rows "
        f"({summary.total_invalid:,} invalid on purpose)"
    )
    print(f"landing: {Path(args.out).resolve()}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestration.demo.generator import generate

    root = args.dir.expanduser().resolve()
    landing = root / "landing"
    warehouse = root / "warehouse.duckdb"
    _progress(f"generating demo landing data at scale {args.scale} in {landing}")
    generate(landing, scale=args.scale, seed=args.seed)
    settings = _settings_for(landing, warehouse, None)
    published = run_pipeline(settings, verbose=args.verbose)
    outputs = [
        f"landing data:      {landing}",
        f"warehouse:         {warehouse}",
        f"published copy:    {published}",
    ]
    print("\n".join(outputs))
    print(
        "Dagster UI:        KPI_LANDING_DIR="
        f"{landing} KPI_WAREHOUSE_PATH={warehouse} kpi-warehouse ui"
        "  (then open http://127.0.0.1:3000)"
    )
    print(f"published: {published}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Start ``dagster dev`` on loopback with its state kept in the project's var/ folder."""
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / "var" / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    dagster = Path(sys.executable).with_name("dagster")
    argv = [
        str(dagster) if dagster.exists() else "dagster",
        "dev",
        "-m",
        "orchestration.definitions",
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    _progress(f"starting the Dagster UI at http://{args.host}:{args.port} (state in {home})")
    os.execvp(argv[0], argv)
    return 0  # not reached


# --- entry point --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kpi-warehouse",
        description="A KPI warehouse: landing data to governed KPIs and a monthly scorecard.",
    )
    parser.add_argument(
        "--traceback", action="store_true", help="show the full traceback of an error"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline on a landing directory")
    run.add_argument("--landing-dir", type=Path, required=True, help="the landing directory")
    run.add_argument("--warehouse", type=Path, required=True, help="the DuckDB warehouse file")
    run.add_argument("--as-of", type=_parse_date, help="the as-of date (YYYY-MM-DD)")
    run.add_argument("-v", "--verbose", action="store_true", help="log every event")
    run.set_defaults(func=cmd_run)

    gen = sub.add_parser("generate", help="write the demo landing data set")
    gen.add_argument("--out", type=Path, required=True, help="the landing directory to write")
    gen.add_argument("--scale", type=float, default=1.0, help="1 is about 50,000 orders")
    gen.add_argument("--seed", type=int, default=42)
    gen.set_defaults(func=cmd_generate)

    demo = sub.add_parser("demo", help="generate demo data, run the pipeline, render a scorecard")
    demo.add_argument("--dir", type=Path, default=DEMO_DIR, help=f"output folder ({DEMO_DIR})")
    demo.add_argument("--scale", type=float, default=1.0)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("-v", "--verbose", action="store_true")
    demo.set_defaults(func=cmd_demo)

    ui = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on loopback")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        return args.func(args)
    except CliError as exc:
        if args.traceback:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.traceback:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"error: {type(exc).__name__}: {first} (rerun with --traceback for details).",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
