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
import shlex
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


def _instance():
    """The persistent instance `kpi-warehouse ui` opens, so the UI shows this run."""
    from dagster import DagsterInstance

    from orchestration.operations.instance import (
        dagster_home,
        open_instance,
        wants_ephemeral_instance,
    )

    if wants_ephemeral_instance():
        return DagsterInstance.ephemeral()
    home = dagster_home()
    _progress(f"recording the run in the Dagster instance at {home}")
    return open_instance(home)


def run_pipeline(settings: Settings, verbose: bool = False) -> Path:
    """Run the whole pipeline through the Dagster definitions; the published copy's path.

    Refuses at once while another run holds the warehouse (see warehouse_lock.py).
    """
    from orchestration.warehouse_lock import WarehouseBusyError, warehouse_lock

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(
                warehouse_lock(
                    settings.warehouse_path,
                    settings.published_path,
                    log=_progress,
                    command=shlex.join(["kpi-warehouse", *sys.argv[1:]]),
                )
            )
        except WarehouseBusyError as exc:
            raise CliError(str(exc)) from None
        return _run_pipeline_locked(settings, verbose)


def _pipeline_job(settings: Settings):
    """The pipeline job of the Dagster definitions for `settings`.

    Importing orchestration.definitions builds them from the environment, which the
    caller has just set from `settings`: where this import is the first, those are the
    ones wanted, and building them again would cost a run's start-up 0.07-0.1 s. A
    module imported earlier was built under another environment and other files, so
    they are built afresh.
    """
    import importlib

    first_import = "orchestration.definitions" not in sys.modules
    definitions = importlib.import_module("orchestration.definitions")
    if first_import and settings == definitions.ENV_SETTINGS:
        defs = definitions.defs
    else:
        defs = definitions.build_definitions(settings)
    return defs.resolve_job_def(definitions.PIPELINE_JOB)


def _run_pipeline_locked(settings: Settings, verbose: bool) -> Path:
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
    if settings.full_refresh:
        os.environ["KPI_DBT_FULL_REFRESH"] = "1"
    else:
        os.environ.pop("KPI_DBT_FULL_REFRESH", None)

    _progress("loading the Dagster definitions (parsing the dbt project if it changed)")
    job = _pipeline_job(settings)
    instance = _instance()
    _progress(
        f"running {job.name}: {settings.landing_dir} -> {settings.warehouse_path}"
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
        from orchestration.keys import PUBLISHED_KPI_KEY
        from orchestration.run_log import failure_sentence

        published_now = any(
            event.asset_key == PUBLISHED_KPI_KEY
            for event in result.get_asset_materialization_events()
        )
        outcome = (
            f" The KPIs were published to {settings.published_path}, but a later step failed"
            if published_now
            else f" Nothing was published; the previous copy at {settings.published_path} is"
            " unchanged"
        )
        raise CliError(
            failure_sentence(result.all_events)
            + outcome
            + " (rerun with --verbose for the full log; invalid rows are in ingest.quarantine)."
        )
    _progress(f"pipeline succeeded in {time.monotonic() - started:.1f} s")
    return settings.published_path


def _settings_for(
    landing_dir: Path, warehouse: Path, as_of: str | None, full_refresh: bool = False
) -> Settings:
    warehouse = warehouse.expanduser().resolve()
    base = Settings.from_env()
    return replace(
        base,
        landing_dir=landing_dir.expanduser().resolve(),
        warehouse_path=warehouse,
        published_path=published_path_for(warehouse),
        as_of=as_of,
        full_refresh=full_refresh,
    )


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings_for(args.landing_dir, args.warehouse, args.as_of, args.full_refresh)
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
    scorecard = render_scorecard(published, None, root / "reports")
    outputs = [
        f"landing data:      {landing}",
        f"warehouse:         {warehouse}",
        f"published copy:    {published}",
        f"scorecards:        {scorecard.parent.parent} (manifest.json per month)",
    ]
    print("\n".join(outputs))
    from orchestration.operations.instance import DEFAULT_DAGSTER_HOME, dagster_home

    home = dagster_home()
    # The UI must open the instance this run was recorded in.
    home_env = "" if home == DEFAULT_DAGSTER_HOME.resolve() else f"DAGSTER_HOME={home} "
    print(
        f"Dagster UI:        {home_env}KPI_LANDING_DIR="
        f"{landing} KPI_WAREHOUSE_PATH={warehouse} kpi-warehouse ui"
        "  (then open http://127.0.0.1:3000: the demo's runs and checks are there)"
    )
    print(f"published: {published}")
    print(f"scorecard: {scorecard}")
    return 0


# --- report -------------------------------------------------------------------------------


def render_scorecard(
    published: Path,
    month: str | None,
    out_dir: Path | None,
    owner: str | None = None,
    email: bool = False,
) -> Path:
    """Render (and archive, and optionally email) a month's scorecard; the PDF's path."""
    from reports.render import start_preload

    # Before the imports below: the renderer loads while they and the reads run.
    start_preload()
    from reports.commentary import CommentaryError
    from reports.delivery import DeliveryError, send_scorecard, settings_for
    from reports.owners import OwnersError
    from reports.scorecard import ScorecardError, latest_complete_month, render_month

    try:
        # Checked before rendering, so a missing setting costs no render. An owner's
        # scorecard goes to that owner's addresses, the full one to the executive list.
        smtp = settings_for(owner) if email else None
        if email:
            if smtp is None:
                raise DeliveryError(
                    "Email is not configured: set KPI_SMTP_HOST and KPI_REPORT_RECIPIENTS."
                )
            smtp.check()
        month = month or latest_complete_month(published)
        _progress(
            f"rendering the {month} scorecard"
            + (f" for {owner}" if owner else "")
            + f" from {published}"
        )
        archived, scorecard, result = render_month(published, month, out_dir, owner=owner)
        _progress(
            f"rendered {result.pages} pages in {result.seconds:.1f} s; "
            f"manifest {archived.manifest_path}"
        )
        if smtp is not None:
            try:
                send_scorecard(scorecard, archived.path, archived.sha256, result.pages, smtp)
            except DeliveryError as exc:
                raise DeliveryError(f"{exc} The PDF is archived at {archived.path}.") from exc
            _progress(f"emailed to {len(smtp.recipients)} recipient(s) via {smtp.host}")
    except (ScorecardError, CommentaryError, DeliveryError, OwnersError) as exc:
        raise CliError(str(exc)) from exc
    return archived.path


def cmd_report(args: argparse.Namespace) -> int:
    if args.warehouse is not None:
        published = published_path_for(args.warehouse.expanduser().resolve())
    else:
        published = Settings.from_env().published_path
    out_dir = args.out.expanduser().resolve() if args.out else None
    path = render_scorecard(published, args.month, out_dir, owner=args.owner, email=args.email)
    print(path)
    return 0


# --- comment ------------------------------------------------------------------------------


def _default_author() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def cmd_comment(args: argparse.Namespace) -> int:
    """Store an owner's comment (or the CSV files in the inbox) without going through git."""
    from orchestration.kpis.semantic import load_registry
    from reports.commentary import (
        CommentaryError,
        comment_inbox,
        comment_store,
        import_inbox,
        submit_comment,
    )

    known = set(load_registry())
    if args.inbox:
        if args.month or args.kpi or args.text is not None:
            raise CliError("--inbox imports the dropped CSV files; give it without --month.")
        stored, problems = import_inbox(known)
        _progress(f"imported {len(stored)} comment(s) from {comment_inbox()}")
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"stored: {comment_store()}")
        return 1 if problems else 0
    missing = [
        flag
        for flag, value in (("--month", args.month), ("--kpi", args.kpi), ("--text", args.text))
        if value is None
    ]
    if missing:
        raise CliError(f"Give {', '.join(missing)} (or --inbox to import the dropped CSV files).")
    try:
        record = submit_comment(
            args.month, args.kpi, args.text, args.author or _default_author(), known
        )
    except CommentaryError as exc:
        raise CliError(str(exc)) from None
    print(
        f"stored the {record.month} comment on {record.kpi_id} by {record.author} in "
        f"{comment_store()}"
    )
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    """Serve the dbt docs (/dbt/) and the Data Docs (/quality/) on loopback."""
    from orchestration import docs_server
    from orchestration.settings import DBT_PROJECT_DIR

    settings = Settings.from_env()
    warehouse = (args.warehouse or settings.warehouse_path).expanduser().resolve()
    dbt_dir = docs_server.dbt_docs_dir(DBT_PROJECT_DIR)
    if args.regenerate or not all((dbt_dir / f).is_file() for f in docs_server.DBT_DOCS_FILES):
        if not warehouse.is_file():
            raise CliError(
                f"Warehouse {warehouse} does not exist; run the pipeline first or pass --warehouse."
            )
        _progress(f"generating the dbt docs from {warehouse}")
        try:
            docs_server.generate_dbt_docs(DBT_PROJECT_DIR, warehouse)
        except RuntimeError as exc:
            raise CliError(str(exc)) from None
    quality_dir = settings.gx_dir / "data_docs"
    try:
        server = docs_server.make_server(dbt_dir, quality_dir, args.host, args.port)
    except OSError as exc:
        raise CliError(
            f"Cannot listen on {args.host}:{args.port} ({exc.strerror}); choose another --port."
        ) from None
    host, port = server.server_address[:2]
    print(
        f"serving the docs at http://{host}:{port}/ (dbt docs at {docs_server.DBT_PREFIX}, "
        f"Data Docs at {docs_server.QUALITY_PREFIX}); links use KPI_DOCS_URL="
        f"{docs_server.docs_url()}",
        flush=True,
    )
    # Ctrl-C is how a user stops a server: not an error.
    with server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Start ``dagster dev`` on loopback with its state kept in the project's var/ folder."""
    from orchestration.operations.instance import dagster_home, ensure_instance_config

    home = dagster_home()
    config, written = ensure_instance_config(home)
    if written:
        _progress(f"wrote {config} (one warehouse run at a time)")
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


# --- bench --------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    from orchestration.bench.harness import BenchError, command_line, markdown, run_benchmark

    try:
        result = run_benchmark(
            args.scale,
            seed=args.seed,
            out_dir=args.out,
            keep=args.keep,
            command=command_line(sys.argv[1:]),
        )
    except BenchError as exc:
        raise CliError(str(exc)) from exc
    print(markdown(result), end="")
    return 0


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
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild every dbt model, not only the staging keys loaded since the last build",
    )
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

    report = sub.add_parser("report", help="render a month's scorecard PDF from the warehouse")
    report.add_argument(
        "--month", type=_parse_month, help="YYYY-MM (default: the latest complete month)"
    )
    report.add_argument(
        "--warehouse",
        type=Path,
        help="the DuckDB warehouse; its published copy is read (default: KPI_WAREHOUSE_PATH)",
    )
    report.add_argument(
        "--out", type=Path, help="the archive folder (default: KPI_REPORTS_DIR or var/reports)"
    )
    report.add_argument("--owner", help="only the KPIs of this owner, e.g. 'VP Sales'")
    report.add_argument(
        "--email",
        action="store_true",
        help="email the PDF (KPI_SMTP_* settings) to the executives, or with --owner to the "
        "owner's addresses in the owners file",
    )
    report.set_defaults(func=cmd_report)

    comment = sub.add_parser(
        "comment",
        help="comment on a KPI's month without git (the reviewed YAML file still wins)",
    )
    # Checked by the command itself, so a bad month is one sentence like a bad KPI id.
    comment.add_argument("--month", help="the scorecard month, YYYY-MM")
    comment.add_argument("--kpi", help="the KPI id, e.g. revenue")
    comment.add_argument("--text", help="what happened and what is being done")
    comment.add_argument("--author", help="who says so (default: your user name)")
    comment.add_argument(
        "--inbox",
        action="store_true",
        help="import the CSV files (month,kpi_id,text,author) dropped in KPI_COMMENT_INBOX",
    )
    comment.set_defaults(func=cmd_comment)

    bench = sub.add_parser(
        "bench", help="time the whole pipeline at a scale against a hand-written DuckDB floor"
    )
    bench.add_argument("--scale", type=float, default=1.0, help="1 is about 50,000 orders")
    bench.add_argument("--seed", type=int, default=42)
    bench.add_argument(
        "--out", type=Path, help="where bench-scale<N>.json and .md go (default: var/bench)"
    )
    bench.add_argument(
        "--keep", action="store_true", help="keep the landing data, warehouse and logs"
    )
    bench.set_defaults(func=cmd_bench)

    docs = sub.add_parser("docs", help="serve the dbt docs and the Data Docs on loopback")
    docs.add_argument("--host", default="127.0.0.1")
    docs.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    docs.add_argument(
        "--warehouse",
        type=Path,
        help="what the dbt docs catalog reads (default: KPI_WAREHOUSE_PATH)",
    )
    docs.add_argument("--regenerate", action="store_true", help="run dbt docs generate again")
    docs.set_defaults(func=cmd_docs)

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
