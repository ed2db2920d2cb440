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
