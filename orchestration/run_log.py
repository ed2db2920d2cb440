"""A console logger for pipeline runs: one short line per message, no tracebacks.

Dagster's default console logger prints the run id and a full stack trace with every
failure. A person running ``kpi-warehouse run`` wants progress and, when something
fails, the one sentence that says what; ``--verbose`` restores the full detail.
"""

import logging
import sys
import time

import dagster as dg


class ConciseFormatter(logging.Formatter):
    def __init__(self, tracebacks: bool) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None)
        if not meta:
            return super().format(record)
        message = str(meta.get("orig_message") or record.getMessage())
        if not self.tracebacks:
            message = message.strip().splitlines()[0] if message.strip() else message
        step = meta.get("step_key")
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"[{stamp}] {step + ': ' if step else ''}{level}{message}"


@dg.logger(
    config_schema={
        "log_level": dg.Field(str, default_value="INFO"),
        "tracebacks": dg.Field(bool, default_value=False),
    },
    description="One line per message on stderr; tracebacks only when asked for.",
)
def concise_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    config = init_context.logger_config
    logger = logging.Logger("kpi_warehouse.run", level=config["log_level"].upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ConciseFormatter(tracebacks=config["tracebacks"]))
    logger.addHandler(handler)
    return logger


def failure_sentence(events) -> str:
    """One sentence naming what failed, from a run's Dagster events (the command line's
    error and the failure alert say the same)."""
    from dagster import AssetCheckSeverity, DagsterEventType

    for event in events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR:
                asset = "/".join(evaluation.asset_key.path)
                detail = evaluation.description or "see the check's metadata in the Dagster UI"
                return f"Blocking check {evaluation.check_name} on {asset} failed: {detail}."
    for event in events:
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
