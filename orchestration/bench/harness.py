"""``kpi-warehouse bench``: time the whole pipeline against a hand-written DuckDB floor.

Every measured phase runs as its own process, started the way a user starts it, so that
interpreter start-up, imports, loading the Dagster definitions and dbt's parse count:

1. ``generate`` writes the demo landing data (reported, not counted in end to end);
2. ``pipeline`` is ``kpi-warehouse run`` into a fresh warehouse (its own code, in a thin
   wrapper that keeps the run's event log, see ``phases``); the run's step events split
   its wall time into stages (see ``STAGE_OF_STEP``);
3. ``scorecard`` is ``kpi-warehouse report`` for the latest complete month; ``render`` is
   the time inside it that the archive manifest records for the PDF itself;
4. ``floor`` is ``floor.sql``: the 16 KPIs at every grain and slice that
   ``kpi.kpi_values`` has, in one DuckDB query over the landing files, compared row by row
   (numerator, denominator and value) with the pipeline's kpi_values.

A background thread samples the summed RSS of each phase's process tree (dbt runs in a
subprocess of the pipeline). Timings on a shared machine are noisy, so the ratios to the
floor are the numbers to compare between runs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import duckdb
import psutil

from orchestration.settings import DBT_PROJECT_DIR, PROJECT_ROOT, published_path_for

DEFAULT_OUT_DIR = PROJECT_ROOT / "var" / "bench"
SAMPLE_SECONDS = 0.05
MIB = 1024 * 1024
# Two numbers agree when they are both null or within this relative tolerance.
AGREEMENT_TOLERANCE = 1e-6

PIPELINE_STAGES = ("startup", "extract", "quality", "dbt", "publish", "other")
STAGE_LABELS = {
    "generate": "generate demo data (not counted)",
    "startup": "start-up: interpreter, imports, definitions, dbt manifest",
    "extract": "extract (17 entities, incl. their delivery checks)",
    "quality": "quality (GX entity and KPI checks, kpi_quality)",
    "dbt": "dbt build (models and dbt tests)",
    "publish": "publish (read-only copy)",
    "other": "other: alerts, notifications, Dagster between steps, exit",
    "pipeline": "pipeline (`kpi-warehouse run`)",
    "scorecard": "scorecard (`kpi-warehouse report`)",
    "render": "render (inside the scorecard: charts, HTML, PDF)",
    "end_to_end": "end to end = pipeline + scorecard",
    "floor": "floor (`floor.sql` on the landing files)",
    "increment": "daily increment: one more day delivered, the pipeline run again",
}
# Step keys of the kpi_pipeline job by stage; extract steps are ``raw__*`` (and a
# connector's ``landing__*``); any step not named here counts as "other".
STAGE_OF_STEP = {
    "entity_quality_checks": "quality",
    "kpi_output_quality_checks": "quality",
    "kpi__kpi_quality": "quality",
    "kpi_dbt_models": "dbt",
    "kpi_history_models": "dbt",
    "kpi_python_source_tests": "dbt",
    "published__kpi": "publish",
    "published__scorecard_months": "publish",
}
# The delivery formats floor.sql reads per entity folder (everything else: CSV).
FLOOR_FORMATS = {
    "crm/tickets": {".parquet"},
    "sales/order_lines": {".parquet"},
    "sales/orders": {".csv", ".parquet"},
    "ops/production_runs": {".parquet"},
    "ops/attendance": {".parquet"},
}
FLOOR_ENTITIES = (
    "crm/accounts",
    "crm/leads",
    "crm/opportunities",
    "crm/tickets",
    "crm/sla_policies",
    "crm/marketing_spend",
    "sales/products",
    "sales/orders",
    "sales/order_lines",
    "sales/fx_rates",
    "ops/shipments",
    "ops/production_runs",
    "ops/services",
    "ops/incidents",
    "ops/attendance",
    "ops/employees",
)


class BenchError(Exception):
    """A benchmark that could not be completed; the message is one sentence."""


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] bench: {message}", file=sys.stderr, flush=True)


# --- measuring a child process ----------------------------------------------------------


class _TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop_event.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for process in tree:
                # A process may end between listing the tree and reading its memory.
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    total += process.memory_info().rss
            if total:
                self.samples.append((time.time(), total))
            self._stop_event.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


@dataclass
class Phase:
    name: str
    started: float  # epoch seconds
    ended: float
    returncode: int
    samples: list[tuple[float, int]]
    stdout: str
    log: Path

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def peak_rss(self, spans: list[tuple[float, float]] | None = None) -> int | None:
        """The highest sample within ``spans`` (default: the whole phase)."""
        spans = spans or [(self.started, self.ended)]
        # A span shorter than the sampling interval still gets its nearest samples.
        margin = SAMPLE_SECONDS
        values = [
            rss
            for t, rss in self.samples
            if any(start - margin <= t <= end + margin for start, end in spans)
        ]
        return max(values) if values else None


def _measure(name: str, argv: list[str], env: dict[str, str], logs: Path) -> Phase:
    log = logs / f"{name}.log"
    out = logs / f"{name}.out"
    with log.open("w") as stderr, out.open("w") as stdout:
        started = time.time()
        process = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=env, cwd=PROJECT_ROOT)
        sampler = _TreeSampler(process.pid)
        sampler.start()
        returncode = process.wait()
        ended = time.time()
        sampler.stop()
    return Phase(name, started, ended, returncode, sampler.samples, out.read_text(), log)


def _check(phase: Phase, what: str) -> None:
    if phase.returncode != 0:
        tail = [line for line in phase.log.read_text().splitlines() if line.strip()][-1:]
        detail = f" ({tail[0].strip()[:300]})" if tail else ""
        raise BenchError(
            f"The {what} failed with exit code {phase.returncode}{detail}; "
            f"its full log is {phase.log}."
        )


# --- attributing the pipeline's wall time to stages --------------------------------------


def stage_of_step(step_key: str) -> str:
    if step_key.startswith(("raw__", "landing__")):
        return "extract"
    return STAGE_OF_STEP.get(step_key, "other")


def pipeline_stages(phase: Phase, events: dict) -> tuple[dict[str, list], list[dict], dict]:
    """Each stage's spans of the pipeline process's wall time, the steps' durations, and
    what "other" is made of.

    Start-up runs from the process's start to the run's start; each step's span goes to
    its stage; whatever lies between steps and after the last one is "other". The spans
    tile the process's lifetime, so the stages add up to the pipeline's wall time.
    """
    run = events.get("run") or {}
    run_start = run.get("start", phase.ended)
    run_end = min(max(run.get("end", phase.ended), run_start), phase.ended)
    spans: dict[str, list] = {stage: [] for stage in PIPELINE_STAGES}
    spans["startup"].append((phase.started, run_start))
    between: list[tuple[float, float]] = []
    steps = []
    cursor = run_start
    ordered = sorted(events.get("steps", {}).items(), key=lambda item: item[1]["start"])
    for key, step in ordered:
        start, end = step["start"], step.get("end", step["start"])
        if start > cursor:
            between.append((cursor, start))
        stage = stage_of_step(key)
        spans[stage].append((start, end))
        cursor = max(cursor, end)
        steps.append(
            {
                "step": key,
                "stage": stage,
                "seconds": round(end - start, 3),
                "outcome": step.get("outcome", "unfinished"),
                **(
                    {"dbt_process_seconds": round(step["dbt_process"], 3)}
                    if "dbt_process" in step
                    else {}
                ),
            }
        )
    if run_end > cursor:
        between.append((cursor, run_end))
    after_run = [(max(cursor, run_end), phase.ended)] if phase.ended > max(cursor, run_end) else []
    other_steps = _span_seconds(spans["other"])
    spans["other"] += between + after_run
    tail_start = max(cursor, run_end)
    returned = min(max(events.get("command_returned", tail_start), tail_start), phase.ended)
    events_read = min(max(events.get("events_read", returned), returned), phase.ended)
    detail = {
        "other_steps": round(other_steps, 3),
        "dagster_between_steps": round(_span_seconds(between), 3),
        "after_run_until_the_command_returns": round(returned - tail_start, 3),
        "harness_reading_the_event_log": round(events_read - returned, 3),
        "interpreter_exit": round(phase.ended - events_read, 3),
    }
    return spans, steps, detail


def dbt_split(steps: list[dict]) -> dict:
    """The dbt stage's steps: their time, dbt's own, and the work around them.

    Each dbt step logs how long dbt ran (in a process of its own, or in the step's for the
    Python tables' tests); the rest of the step is dagster-dbt preparing the call and
    Dagster handling its events and metadata.
    """
    dbt_steps = [s for s in steps if s["stage"] == "dbt"]
    step_seconds = sum(s["seconds"] for s in dbt_steps)
    process_seconds = sum(s.get("dbt_process_seconds", 0.0) for s in dbt_steps)
    return {
        "steps": len(dbt_steps),
        "step_seconds": round(step_seconds, 3),
        "dbt_process_seconds": round(process_seconds, 3),
        "around_dbt_seconds": round(step_seconds - process_seconds, 3),
    }


def _span_seconds(spans: list[tuple[float, float]]) -> float:
    return sum(max(0.0, end - start) for start, end in spans)


# --- the floor ---------------------------------------------------------------------------


def check_floor_layout(landing: Path) -> None:
    """The floor reads fixed delivery formats per entity: refuse a landing set it would misread."""
    for folder in FLOOR_ENTITIES:
        allowed = FLOOR_FORMATS.get(folder, {".csv"})
        files = [
            p
            for p in (landing / folder).glob("*")
            if p.is_file() and not p.name.startswith((".", "_"))
        ]
        for path in files:
            if path.suffix.lower() not in allowed:
                raise BenchError(
                    f"floor.sql reads {folder} as {' and '.join(sorted(allowed))} only, but "
                    f"{path} is another format."
                )
        for suffix in allowed:
            if not any(p.suffix.lower() == suffix for p in files):
                raise BenchError(f"floor.sql needs {suffix} deliveries in {landing / folder}.")


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=AGREEMENT_TOLERANCE, abs_tol=1e-9)


GRAINS = ("day", "week", "month", "quarter", "year")
FLOOR_KEY = ("kpi_id", "grain", "period_start", "dimension", "dimension_value")


def compare_with_pipeline(floor_rows: list[list], published: Path) -> dict:
    """How many rows of the published kpi_values the floor agrees on: every KPI, grain,
    period and slice; a row only one side has is a difference."""
    import duckdb

    con = duckdb.connect(str(published), read_only=True)
    try:
        reference = {
            (kpi_id, grain, period_start.isoformat(), dimension, dimension_value): (
                numerator,
                denominator,
                value,
            )
            for (
                kpi_id,
                grain,
                period_start,
                dimension,
                dimension_value,
                numerator,
                denominator,
                value,
            ) in con.execute(
                """
                select
                    kpi_id, grain, period_start, dimension, dimension_value,
                    numerator, denominator, value
                from kpi.kpi_values
                """
            ).fetchall()
        }
    finally:
        con.close()
    floor = {tuple(r[:5]): tuple(r[5:]) for r in floor_rows}
    differences = []
    agree = 0
    for key in sorted(floor.keys() | reference.keys()):
        mine, theirs = floor.get(key), reference.get(key)
        if mine is not None and theirs is not None and all(map(_close, mine, theirs)):
            agree += 1
            continue
        differences.append(
            {
                **dict(zip(FLOOR_KEY, key, strict=True)),
                "floor": list(mine) if mine else None,
                "pipeline": list(theirs) if theirs else None,
            }
        )
    return {
        "agree": agree,
        "compared": len(floor.keys() | reference.keys()),
        "floor_rows": len(floor),
        "pipeline_rows": len(reference),
        "tolerance": AGREEMENT_TOLERANCE,
        "compared_columns": ["numerator", "denominator", "value"],
        "differences": differences[:50],
        "differences_total": len(differences),
    }


# --- the run -----------------------------------------------------------------------------


def _child_env(work: Path) -> dict[str, str]:
    """The default configuration: no KPI_* setting of the caller's shell (no e-mail, no
    webhook, no other warehouse) and Dagster's ephemeral instance, as for a first run: the
    stage times come from the run's own event log, not from a UI instance's history."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env.pop("DAGSTER_HOME", None)
    env["KPI_DAGSTER_EPHEMERAL"] = "1"
    env["KPI_GX_DIR"] = str(work / "gx")
    # The benchmark writes its deliveries itself, complete: no wait for them to settle.
    env["KPI_DELIVERY_QUIET_SECONDS"] = "0"
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


def _git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    packages = (
        "duckdb",
        "dbt-core",
        "dbt-duckdb",
        "dagster",
        "dagster-dbt",
        "great-expectations",
        "weasyprint",
    )
    for package in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


def machine() -> dict:
    memory = psutil.virtual_memory().total
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 1024**3, 1),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def scale_label(scale: float) -> str:
    return f"{scale:g}"


def _targets(result: dict) -> list[dict]:
    """The issue's targets. One set for a scale is judged only at that scale; at another
    its value is still shown, for the trend."""
    stages = result["stages"]
    # The target is the warehouse's own footprint: the floor's in-memory DuckDB is the
    # yardstick, not part of the product.
    peak = stages["end_to_end"]["peak_rss_mib"]
    increment_share = result["ratios"]["increment_to_pipeline"]
    rows = []
    for name, scale, value, limit, unit in (
        ("end to end incl. the scorecard", 1, stages["end_to_end"]["seconds"], 45.0, "s"),
        ("end to end / floor", 100, result["ratios"]["end_to_end_to_floor"], 3.0, "×"),
        ("full build (pipeline) / floor", 10, result["ratios"]["pipeline_to_floor"], 3.0, "×"),
        ("full build (pipeline) / floor", 100, result["ratios"]["pipeline_to_floor"], 3.0, "×"),
        ("daily increment / full run", 10, increment_share, 0.25, "share"),
        ("daily increment / full run", 100, increment_share, 0.10, "share"),
        ("peak memory, end to end (process tree)", 100, peak / 1024 if peak else None, 2.0, "GiB"),
        ("one monthly scorecard render", None, stages["render"]["seconds"], 3.0, "s"),
        ("quality checks / end to end", None, result["ratios"]["quality_share"], 0.15, "share"),
    ):
        applies = scale is None or math.isclose(scale, result["scale"])
        rows.append(
            {
                "target": name,
                "set_for_scale": scale,
                "applies": applies,
                "value": None if value is None else round(value, 3),
                "limit": limit,
                "unit": unit,
                "met": None if value is None or not applies else value <= limit,
            }
        )
    return rows


DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(csv|parquet)$")


def hold_back_last_day(landing: Path, held: Path) -> list[Path]:
    """Move the last delivery day's files (``YYYY-MM-DD.<ext>``) out of ``landing``.

    The daily increment delivers them after the full run: one day of every entity that
    delivers daily, a small share of the rows, as a day in production brings.
    """
    days = sorted({m.group(1) for p in landing.rglob("*") if (m := DAY_FILE.match(p.name))})
    if not days:
        raise BenchError(f"No daily delivery file (YYYY-MM-DD.csv or .parquet) in {landing}.")
    moved = []
    for path in sorted(landing.rglob(f"{days[-1]}.*")):
        if DAY_FILE.match(path.name) and path.is_file():
            relative = path.relative_to(landing)
            (held / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, held / relative)
            moved.append(relative)
    return moved


def deliver_held(held: Path, landing: Path, files: list[Path]) -> int:
    """Move the held files back into ``landing``; the rows they hold."""
    rows = 0
    for relative in files:
        source = held / relative
        if source.suffix == ".parquet":
            rows += duckdb.sql(f"select count(*) from read_parquet('{source}')").fetchone()[0]
        else:
            # Lines after the header: the demo's CSV rows hold no line breaks.
            with source.open("rb") as f:
                rows += max(sum(1 for _ in f) - 1, 0)
        shutil.move(source, landing / relative)
    return rows


def _entry(seconds: float | None, peak: int | None = None) -> dict:
    return {
        "seconds": None if seconds is None else round(seconds, 3),
        "peak_rss_mib": None if peak is None else round(peak / MIB, 1),
    }


def _render_seconds(pdf: Path) -> float | None:
    manifest = pdf.parent / "manifest.json"
    try:
        entry = json.loads(manifest.read_text(encoding="utf-8"))["files"][pdf.name]
        return float(entry["render_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_benchmark(
    scale: float,
    seed: int = 42,
    out_dir: Path | None = None,
    keep: bool = False,
    command: str | None = None,
) -> dict:
    """Generate, run, render and compute the floor at ``scale``; write JSON and Markdown."""
    if scale <= 0:
        raise BenchError("The scale must be positive.")
    out = (out_dir or DEFAULT_OUT_DIR).expanduser().resolve()
    label = scale_label(scale)
    work = out / f"work-scale{label}"
    if work.exists():
        shutil.rmtree(work)
    logs = work / "logs"
    logs.mkdir(parents=True)
    landing = work / "landing"
    warehouse = work / "warehouse.duckdb"
    env = _child_env(work)
    python = sys.executable
    load_before = _load_average()
    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    manifest_mtime = manifest.stat().st_mtime if manifest.exists() else None

    _progress(f"generating demo data at scale {label} (seed {seed}) in {landing}")
    generate = _measure(
        "generate",
        [python, "-m", "orchestration.cli", "generate", "--out", str(landing)]
        + ["--scale", str(scale), "--seed", str(seed)],
        env,
        logs,
    )
    _check(generate, "demo data generation")
    check_floor_layout(landing)
    held = hold_back_last_day(landing, work / "held")

    _progress(f"running the pipeline into a fresh warehouse {warehouse}")
    events_path = work / "pipeline-events.json"
    pipeline = _measure(
        "pipeline",
        [python, "-m", "orchestration.bench.phases", "pipeline", "--landing-dir", str(landing)]
        + ["--warehouse", str(warehouse), "--events", str(events_path)],
        env,
        logs,
    )
    _check(pipeline, "pipeline run")
    events = json.loads(events_path.read_text())
    reparsed = manifest.exists() and manifest.stat().st_mtime != manifest_mtime

    _progress("rendering the latest complete month's scorecard")
    scorecard = _measure(
        "scorecard",
        [python, "-m", "orchestration.cli", "report", "--warehouse", str(warehouse)]
        + ["--out", str(work / "reports")],
        env,
        logs,
    )
    _check(scorecard, "scorecard render")
    pdf = Path(scorecard.stdout.strip().splitlines()[-1])

    increment_rows = deliver_held(work / "held", landing, held)
    _progress(
        f"running the pipeline again after one more day's delivery ({len(held)} files, "
        f"{increment_rows:,} rows)"
    )
    increment_events_path = work / "increment-events.json"
    increment = _measure(
        "increment",
        [python, "-m", "orchestration.bench.phases", "pipeline", "--landing-dir", str(landing)]
        + ["--warehouse", str(warehouse), "--events", str(increment_events_path)],
        env,
        logs,
    )
    _check(increment, "daily increment run")
    increment_spans, increment_steps, _ = pipeline_stages(
        increment, json.loads(increment_events_path.read_text())
    )

    _progress("computing the floor: floor.sql on the landing files")
    floor_path = work / "floor-rows.json"
    floor = _measure(
        "floor",
        [python, "-m", "orchestration.bench.phases", "floor", "--landing-dir", str(landing)]
        + ["--rows", str(floor_path)],
        env,
        logs,
    )
    _check(floor, "floor query")
    floor_result = json.loads(floor_path.read_text())
    agreement = compare_with_pipeline(floor_result["rows"], published_path_for(warehouse))

    spans, steps, other_detail = pipeline_stages(pipeline, events)
    stages: dict[str, dict] = {"generate": _entry(generate.seconds, generate.peak_rss())}
    for stage in PIPELINE_STAGES:
        stages[stage] = _entry(_span_seconds(spans[stage]), pipeline.peak_rss(spans[stage]))
    stages["pipeline"] = _entry(pipeline.seconds, pipeline.peak_rss())
    stages["scorecard"] = _entry(scorecard.seconds, scorecard.peak_rss())
    stages["render"] = _entry(_render_seconds(pdf))
    end_to_end = pipeline.seconds + scorecard.seconds
    e2e_peak = max(filter(None, [pipeline.peak_rss(), scorecard.peak_rss()]), default=None)
    stages["end_to_end"] = _entry(end_to_end, e2e_peak)
    stages["floor"] = _entry(floor.seconds, floor.peak_rss())
    stages["increment"] = _entry(increment.seconds, increment.peak_rss())
    increment_stages = {
        stage: _entry(_span_seconds(span), increment.peak_rss(span))
        for stage, span in increment_spans.items()
    }
    peaks = [p for p in (pipeline.peak_rss(), scorecard.peak_rss(), floor.peak_rss()) if p]

    rows = floor_result["rows"]
    generated = re.search(r"wrote ([\d,]+) delivery files, ([\d,]+) rows", generate.log.read_text())
    result = {
        "scale": scale,
        "seed": seed,
        "command": command or f"kpi-warehouse bench --scale {label}",
        "date": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "commit": _git_commit(),
        "machine": {
            **machine(),
            "load_average_before": load_before,
            "load_average_after": _load_average(),
        },
        "versions": _versions(),
        "data": {
            "delivery_files": int(generated.group(1).replace(",", "")) if generated else None,
            "delivered_rows": int(generated.group(2).replace(",", "")) if generated else None,
            "landing_mib": round(
                sum(p.stat().st_size for p in landing.rglob("*") if p.is_file()) / MIB, 1
            ),
            "scorecard_month": pdf.parent.name,
        },
        "stages": stages,
        "ratios": {
            "end_to_end_to_floor": round(end_to_end / floor.seconds, 2),
            "pipeline_to_floor": round(pipeline.seconds / floor.seconds, 2),
            "quality_share": round(stages["quality"]["seconds"] / end_to_end, 3),
            "increment_to_pipeline": round(increment.seconds / pipeline.seconds, 3),
        },
        # The full run is on every delivery but the last day's; the increment delivers
        # that day and runs again on the same warehouse (the floor reads every day).
        "increment": {
            "delivery_files": len(held),
            "rows": increment_rows,
            "stages": increment_stages,
            "dbt": dbt_split(increment_steps),
        },
        "dbt": dbt_split(steps),
        "peak_rss_mib": round(max(peaks) / MIB, 1) if peaks else None,
        "dbt_manifest_reparsed": bool(reparsed),
        "other_detail": other_detail,
        "steps": steps,
        "floor": {
            "rows": len(rows),
            "kpis": len({r[0] for r in rows}),
            "periods": {
                grain: len({r[2] for r in rows if r[1] == grain})
                for grain in GRAINS
                if any(r[1] == grain for r in rows)
            },
            "slices": len({(r[0], r[3], r[4]) for r in rows}),
            "query_seconds": round(floor_result["query_seconds"], 3),
            "agreement": agreement,
        },
        "sampling_interval_seconds": SAMPLE_SECONDS,
    }
    result["targets"] = _targets(result)

    json_path = out / f"bench-scale{label}.json"
    md_path = out / f"bench-scale{label}.md"
    json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(result), encoding="utf-8")
    result["json_path"] = str(json_path)
    result["markdown_path"] = str(md_path)
    if keep:
        _progress(f"kept the landing data, warehouse, scorecard and logs in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    _progress(f"wrote {json_path} and {md_path}")
    return result


# --- Markdown ----------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown(result: dict) -> str:
    stages = result["stages"]
    e2e = stages["end_to_end"]["seconds"]
    m = result["machine"]
    lines = [
        f"### Scale {scale_label(result['scale'])} (seed {result['seed']})",
        "",
        f"- command: `{result['command']}`",
        f"- machine: {m['cores']} cores, {m['memory_gib']} GiB memory ({m['platform']})",
        f"- load average (1, 5, 15 min) before: {m['load_average_before']}, "
        f"after: {m['load_average_after']}",
        f"- date: {result['date']}, commit: {result['commit']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()),
        f"- data: {result['data']['delivery_files']} delivery files, "
        f"{_fmt(result['data']['delivered_rows'], 0)} rows, "
        f"{result['data']['landing_mib']} MiB; scorecard month "
        f"{result['data']['scorecard_month']}",
        "",
        "| stage | wall s | share of end to end | peak RSS MiB |",
        "| --- | ---: | ---: | ---: |",
    ]
    for stage in (
        "generate",
        *PIPELINE_STAGES,
        "pipeline",
        "scorecard",
        "render",
        "end_to_end",
        "floor",
    ):
        entry = stages[stage]
        share = (
            f"{entry['seconds'] / e2e:.1%}"
            if stage not in ("generate", "floor") and entry["seconds"] is not None and e2e
            else ""
        )
        name = STAGE_LABELS[stage]
        if stage in ("pipeline", "end_to_end", "floor"):
            name = f"**{name}**"
        lines.append(
            f"| {name} | {_fmt(entry['seconds'], 2)} | {share} | {_fmt(entry['peak_rss_mib'], 0)} |"
        )
    ratios = result["ratios"]
    other = result["other_detail"]
    floor = result["floor"]
    agreement = floor["agreement"]
    increment = result["increment"]
    delivered = result["data"]["delivered_rows"]
    increment_share = f"{increment['rows'] / delivered:.2%}" if delivered else "–"
    lines += [
        "",
        f"- end to end / floor: **{ratios['end_to_end_to_floor']:.1f}×**; "
        f"pipeline / floor: **{ratios['pipeline_to_floor']:.1f}×**; "
        f"quality share of end to end: **{ratios['quality_share']:.1%}**",
        "- other: " + ", ".join(f"{k.replace('_', ' ')} {v:.2f} s" for k, v in other.items()),
        "- peak memory (process tree): end to end "
        f"{_fmt(result['stages']['end_to_end']['peak_rss_mib'], 0)} MiB, any phase with the "
        f"floor {_fmt(result['peak_rss_mib'], 0)} MiB",
        f"- floor: {floor['rows']:,} rows ({floor['kpis']} KPIs, {floor['slices']} KPI slices "
        "× periods: "
        + ", ".join(f"{n} {grain}s" for grain, n in floor["periods"].items())
        + f"), query {floor['query_seconds']:.2f} s inside its process",
        f"- floor agreement: {agreement['agree']:,} of {agreement['compared']:,} rows of "
        f"kpi_values (every KPI, grain, period and slice; numerator, denominator and value "
        f"within a relative {agreement['tolerance']:g})",
        "- dbt stage: "
        + "; ".join(
            f"{what} {split['step_seconds']:.2f} s in {split['steps']} steps, of which dbt "
            f"itself {split['dbt_process_seconds']:.2f} s and the work around them "
            f"(dagster-dbt, Dagster) {split['around_dbt_seconds']:.2f} s"
            for what, split in (("full run", result["dbt"]), ("increment", increment["dbt"]))
        ),
        "- dbt manifest re-parsed at start-up: "
        + ("yes" if result["dbt_manifest_reparsed"] else "no"),
        f"- daily increment (the full run above is on every day but the last; then that "
        f"day's {increment['delivery_files']} files, {increment['rows']:,} rows, "
        f"{increment_share} of the delivered rows, and a second run): "
        f"{_fmt(stages['increment']['seconds'], 2)} s, "
        f"**{ratios['increment_to_pipeline']:.1%}** of the full run ("
        + ", ".join(
            f"{stage} {_fmt(entry['seconds'], 2)} s" for stage, entry in increment["stages"].items()
        )
        + f"), peak {_fmt(stages['increment']['peak_rss_mib'], 0)} MiB",
        "",
        "| target | set for | value | limit | met |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for t in result["targets"]:
        scope = "every scale" if t["set_for_scale"] is None else f"scale {t['set_for_scale']:g}"
        met = {True: "yes", False: "**no**", None: "–"}[t["met"]]
        if not t["applies"] and t["value"] is not None:
            met = f"n/a at this scale (would be {'met' if t['value'] <= t['limit'] else 'missed'})"
        value = "–" if t["value"] is None else f"{t['value']:g} {t['unit']}"
        lines.append(f"| {t['target']} | {scope} | {value} | {t['limit']:g} {t['unit']} | {met} |")
    return "\n".join(lines) + "\n"


def command_line(argv: list[str]) -> str:
    return "kpi-warehouse " + shlex.join(argv)
