"""What starts or follows runs: new deliveries in the landing zone, and failed runs."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from expectations.contract import ENTITIES
from orchestration import run_log
from orchestration.operations.config import OperationsConfig
from orchestration.operations.notify import DeliveryFailed, configured_channels
from orchestration.operations.schedules import PIPELINE_JOB
from orchestration.settings import Settings

DELIVERY_SENSOR = "new_deliveries"
FAILURE_SENSOR = "notify_on_run_failure"
FINGERPRINT_TAG = "kpi_warehouse/landing_fingerprint"


@dataclass(frozen=True)
class LandingFingerprint:
    digest: str
    files: int
    newest_mtime: float


def landing_fingerprint(root: Path) -> LandingFingerprint:
    """A hash of every delivery file's name, size and modification time.

    The same files the extract reads (names starting with ``.`` or ``_`` are not
    deliveries), so a new, changed or removed delivery changes it and nothing else does.
    """
    digest = hashlib.sha256()
    files = 0
    newest = 0.0
    for entity in ENTITIES:
        folder = root / entity.system / entity.name
        if not folder.is_dir():
            continue
        # Raw bytes of the names: one that is not UTF-8 must not crash the sensor (the
        # run then names the file).
        for path in sorted(folder.iterdir(), key=lambda p: os.fsencode(p.name)):
            if path.name.startswith((".", "_")) or not path.is_file():
                continue
            st = path.stat()
            digest.update(
                f"{entity.system}/{entity.name}/".encode()
                + os.fsencode(path.name)
                + f"\0{st.st_size}\0{st.st_mtime_ns}\n".encode()
            )
            files += 1
            newest = max(newest, st.st_mtime)
    return LandingFingerprint(digest.hexdigest(), files, newest)


def build_delivery_sensor(settings: Settings, config: OperationsConfig) -> dg.SensorDefinition:
    root = Path(settings.landing_dir)
    settle = config.delivery_settle_seconds

    @dg.sensor(
        name=DELIVERY_SENSOR,
        job_name=PIPELINE_JOB,
        minimum_interval_seconds=config.delivery_sensor_interval,
        default_status=config.sensor_status,
        description=(
            f"Starts {PIPELINE_JOB} when delivery files in {root} are added, changed or "
            f"removed, once none has changed for {settle} s (KPI_DELIVERY_SETTLE_SECONDS)."
        ),
    )
    def _new_deliveries(context: dg.SensorEvaluationContext):
        if not root.is_dir():
            return dg.SkipReason(f"The landing directory {root} does not exist.")
        fingerprint = landing_fingerprint(root)
        if fingerprint.files == 0:
            # An empty or unmounted landing zone is no reason to unload every delivery.
            return dg.SkipReason(f"The landing directory {root} holds no delivery files.")
        if fingerprint.digest == context.cursor:
            return dg.SkipReason("No delivery file was added, changed or removed.")
        age = time.time() - fingerprint.newest_mtime
        if 0 <= age < settle:
            return dg.SkipReason(
                f"A delivery file changed {age:.0f} s ago; waiting until none has for {settle} s."
            )
        queued = context.instance.get_runs(
            filters=dg.RunsFilter(
                job_name=PIPELINE_JOB,
                statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED],
            ),
            limit=1,
        )
        if queued:
            return dg.SensorResult(
                skip_reason=f"Run {queued[0].run_id} is queued and will load these deliveries.",
                cursor=fingerprint.digest,
            )
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=fingerprint.digest,
                    tags={FINGERPRINT_TAG: fingerprint.digest[:16]},
                )
            ],
            cursor=fingerprint.digest,
        )

    return _new_deliveries


def failure_sentence(instance: dg.DagsterInstance, run_id: str) -> str:
    """What failed in a run, in the words the command line uses for it."""
    events = [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event is not None]
    return run_log.failure_sentence(events)


def run_failure_message(
    instance: dg.DagsterInstance, run: dg.DagsterRun, ui_url: str
) -> tuple[str, dict]:
    """A plain-text message and a webhook payload for a failed run."""
    sentence = failure_sentence(instance, run.run_id)
    url = f"{ui_url}/runs/{run.run_id}"
    text = f"Run {run.run_id[:8]} of {run.job_name} failed. {sentence} Details: {url}"
    payload = {
        "event": "run_failed",
        "text": text,
        "job": run.job_name,
        "run_id": run.run_id,
        "error": sentence,
        "url": url,
        "partition": run.tags.get("dagster/partition"),
    }
    return text, payload


def build_failure_sensor(config: OperationsConfig) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=FAILURE_SENSOR,
        # Stopped like every other automation (README): a running sensor is ticked, and
        # logged by the daemon, every 30 s even with no channel to notify.
        default_status=config.sensor_status,
        description=(
            "Notifies the alert webhook (KPI_ALERT_WEBHOOK_URL) and the alert recipients "
            "(KPI_SMTP_*, KPI_ALERT_RECIPIENTS) when a run of this code location fails."
        ),
    )
    def _notify(context: dg.RunFailureSensorContext):
        channels = configured_channels()
        if not channels:
            return dg.SkipReason("No webhook or e-mail recipients are configured.")
        run = context.dagster_run
        text, payload = run_failure_message(context.instance, run, config.ui_url)
        problems = []
        for channel in channels:
            try:
                if channel.name == "webhook":
                    channel.send(payload)
                else:
                    channel.send(f"KPI warehouse: run of {run.job_name} failed", text)
            except DeliveryFailed as exc:
                problems.append(f"{channel.name}: {exc}")
        if problems:
            raise DeliveryFailed(
                f"The failure of run {run.run_id} was not delivered by " + "; ".join(problems)
            )
        return None

    return _notify
