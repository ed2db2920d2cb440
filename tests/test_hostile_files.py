"""Awful delivery files, through the real command line.

Two runs of ``kpi-warehouse run`` on one landing directory: the first holds every
hostile file that must load (or quarantine its bad rows) beside one valid delivery per
entity, plus a file an export job is still writing; the second adds the files that must
fail their entity. Per file the test checks the outcome and that delivered = loaded +
quarantined; per run that no traceback is printed and the landing directory is only
read; after the failed run that the published copy is untouched.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.test_extract import VALID, assert_accounting, rows_of

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "orchestration.cli", "run"]
ACCOUNT_HEADER = ",".join(VALID["crm.accounts"])
TEN_MIB = 10 << 20


def account_line(account_id: str, name: str = "Acme", sep: str = ",") -> str:
    row = {**VALID["crm.accounts"], "account_id": account_id, "account_name": name}
    return sep.join(row.values())


def accounts_csv(*lines: str, newline: str = "\n") -> bytes:
    return newline.join([ACCOUNT_HEADER, *lines, ""]).encode("utf-8")


@dataclass(frozen=True)
class Loads:
    """A delivery that loads: its accounting and the reasons of its quarantined rows."""

    entity: str
    name: str
    content: bytes | pa.Table
    delivered: int
    loaded: int
    reasons: tuple[str, ...] = ()
    # account_id → account_name expected in raw (crm.accounts deliveries)
    names: tuple[tuple[str, str], ...] = ()


LOADS = {
    "header-only": Loads("crm.accounts", "h-header-only.csv", accounts_csv(), 0, 0),
    "utf8-bom": Loads(
        "crm.accounts",
        "b-bom.csv",
        b"\xef\xbb\xbf" + accounts_csv(account_line("A-BOM", "Bom Co")),
        1,
        1,
        names=(("A-BOM", "Bom Co"),),
    ),
    "crlf": Loads(
        "crm.accounts",
        "c-crlf.csv",
        accounts_csv(account_line("A-CR1"), account_line("A-CR2", "Two"), newline="\r\n"),
        2,
        2,
        names=(("A-CR1", "Acme"), ("A-CR2", "Two")),
    ),
    "quoted-newlines-and-quotes": Loads(
        "crm.accounts",
        "q-quoted.csv",
        accounts_csv(
            account_line("A-Q1", '"Smith, ""Jr"" & Co"'),
            account_line("A-Q2", '"first line\nsecond ""line"""'),
        ),
        2,
        2,
        names=(("A-Q1", 'Smith, "Jr" & Co'), ("A-Q2", 'first line\nsecond "line"')),
    ),
    "nul-byte": Loads(
        "crm.accounts",
        "n-nul.csv",
        accounts_csv(account_line("A-NUL", "Ac\x00me"), account_line("A-NUL2")),
        2,
        1,
        reasons=("account_name contains a NUL character",),
        names=(("A-NUL2", "Acme"),),
    ),
    "latin1-bytes": Loads(
        "crm.accounts",
        "l-latin1.csv",
        accounts_csv(account_line("A-OK1"))
        + account_line("A-LAT", "Straße").encode("latin-1")
        + b"\n"
        + account_line("A-OK2").encode()
        + b"\n",
        3,
        2,
        reasons=("invalid encoding",),
        names=(("A-OK1", "Acme"), ("A-OK2", "Acme")),
    ),
    "unclosed-quote": Loads(
        "crm.accounts",
        "u-unclosed.csv",
        accounts_csv(account_line("A-UQ1"), account_line("A-UQ2", '"never closed')),
        2,
        1,
        reasons=("unquoted value",),
        names=(("A-UQ1", "Acme"),),
    ),
    "ten-mib-field": Loads(
        "crm.accounts",
        "z-ten-mib.csv",
        accounts_csv(account_line("A-BIG", "x" * TEN_MIB)),
        1,
        1,
    ),
    # Names that break a shell or a glob; no shell is involved and nothing is globbed.
    **{
        f"name-{label}": Loads(
            "crm.accounts", name, accounts_csv(account_line(key)), 1, 1, names=((key, "Acme"),)
        )
        for label, name, key in [
            ("space", "with space.csv", "A-N1"),
            ("unicode", "ünïcødé 東京 ✓.csv", "A-N2"),
            ("leading-dash", "-rf --help.csv", "A-N3"),
            ("command-substitution", "$(touch pwned); echo `id` | x.csv", "A-N4"),
            ("quotes", 'it\'s "quoted".csv', "A-N5"),
            ("glob-brackets", "glob[1].csv", "A-N6"),
            ("glob-brackets-twin", "glob1.csv", "A-N7"),
            ("glob-star", "star*.csv", "A-N8"),
            ("glob-question", "what?.csv", "A-N9"),
        ]
    },
    # A string quantity, an int32 price and a boolean discount: each value is read as
    # text and typed by the contract; a nested extra column is kept as delivered.
    "parquet-wrong-and-nested-types": Loads(
        "sales.order_lines",
        "2026-10-02.parquet",
        pa.table(
            {
                "order_id": ["O1", "O1"],
                "line_number": pa.array([11, 12], pa.int64()),
                "product_id": ["PR1", "PR1"],
                "quantity": ["2", "two"],
                "unit_price": pa.array([5, 6], pa.int32()),
                "discount_amount": pa.array([None, True], pa.bool_()),
                "meta": pa.array([{"a": 1}, {"a": 2}], pa.struct([("a", pa.int64())])),
            }
        ),
        2,
        1,
        reasons=("quantity is not a valid integer; discount_amount is not a valid decimal",),
    ),
}

# The file an export job is still writing during the first run.
GROWING = ("ops.shipments", "2026-10-03.csv")


@dataclass(frozen=True)
class Fails:
    """A delivery that fails its entity: the words its one sentence must hold."""

    entity: str
    name: str | bytes
    words: tuple[str, ...]


FAILS = {
    "zero-byte": Fails("crm.leads", "2026-10-02.csv", ("empty (0 bytes)",)),
    "symlink-outside": Fails(
        "crm.opportunities", "2026-10-02.csv", ("symbolic link", "outside the landing")
    ),
    "dangling-symlink": Fails("crm.tickets", "2026-10-02.csv", ("does not exist",)),
    "duplicated-column": Fails(
        "crm.sla_policies", "2026-10-02.csv", ("resolution_hours", "more than once")
    ),
    "nul-in-header": Fails("crm.marketing_spend", "2026-10-02.csv", ("NUL byte",)),
    "parquet-nested-contract-column": Fails(
        "sales.products", "2026-10-02.parquet", ("product_name", "nested Parquet type")
    ),
    "empty-parquet": Fails("ops.incidents", "2026-10-02.parquet", ("cannot be read as Parquet",)),
    "record-over-16-mib": Fails("sales.fx_rates", "2026-10-02.csv", ("MiB",)),
    "name-not-utf8": Fails("ops.services", b"2026-10-02-\xff.csv", ("not valid UTF-8",)),
    "fifo": Fails("ops.employees", "2026-10-02.csv", ("not a regular file",)),
}


def _folder(landing: Path, qualified: str) -> Path:
    folder = landing.joinpath(*qualified.split("."))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_failing(landing: Path, outside: Path, key: str) -> None:
    case = FAILS[key]
    folder = _folder(landing, case.entity)
    if isinstance(case.name, bytes):
        path = Path(os.fsdecode(os.fsencode(folder) + b"/" + case.name))
    else:
        path = folder / case.name
    if key == "zero-byte":
        path.write_bytes(b"")
    elif key == "symlink-outside":
        path.symlink_to(outside)
    elif key == "dangling-symlink":
        path.symlink_to(landing / "crm" / "tickets" / "gone.csv")
    elif key == "duplicated-column":
        path.write_text(
            "priority,first_response_hours,resolution_hours,Resolution_Hours\nlow,8,48,72\n"
        )
    elif key == "nul-in-header":
        path.write_bytes(b"spend_date,chan\x00nel,region,amount,currency\n")
    elif key == "parquet-nested-contract-column":
        table = pa.table({k: [v] for k, v in VALID["sales.products"].items()})
        nested = pa.array([{"en": "Widget"}], pa.struct([("en", pa.string())]))
        pq.write_table(table.set_column(1, "product_name", nested), path)
    elif key == "empty-parquet":
        path.write_bytes(b"")
    elif key == "record-over-16-mib":
        path.write_bytes(
            b'rate_date,currency,usd_per_unit\n2026-10-02,"GBP' + b"x" * (17 << 20) + b",1.2\n"
        )
    elif key == "name-not-utf8":
        path.write_text(rows_of("ops.services", {"service_id": "SV9"}))
    elif key == "fifo":
        os.mkfifo(path)
    else:
        raise AssertionError(key)


def _write_landing(landing: Path) -> None:
    for qualified in VALID:
        (_folder(landing, qualified) / "2026-10-01.csv").write_text(rows_of(qualified, {}))
    for case in LOADS.values():
        path = _folder(landing, case.entity) / case.name
        if isinstance(case.content, pa.Table):
            pq.write_table(case.content, path)
        else:
            path.write_bytes(case.content)


def snapshot(landing: Path) -> dict[bytes, tuple]:
    """Every entry under the landing directory: content hash and mtime, link, or pipe."""
    entries = {}
    for folder, dirs, files in os.walk(os.fsencode(landing)):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                entries[path] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(Path(os.fsdecode(path)).read_bytes()).hexdigest()
                entries[path] = ("file", digest, st.st_size, st.st_mtime_ns)
            else:
                entries[path] = (stat.S_IFMT(st.st_mode), st.st_mtime_ns)
    return entries


def set_writable(landing: Path, writable: bool) -> None:
    """chmod -R a-w (or u+w back). Root ignores it, which is why snapshots compare too."""
    for folder, dirs, files in os.walk(landing):
        for name in [*dirs, *files, ""]:
            path = os.path.join(folder, name) if name else folder
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
                mode = st.st_mode | stat.S_IWUSR if writable else st.st_mode & ~0o222
                os.chmod(path, stat.S_IMODE(mode))


class Writer(threading.Thread):
    """An export job writing a delivery slowly, a row every 0.2 s, until told to finish."""

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path = path
        self.rows = 0
        self.opened = threading.Event()
        self.finish = threading.Event()

    def run(self) -> None:
        header = ",".join(VALID["ops.shipments"])
        with self.path.open("w") as fh:
            fh.write(header + "\n")
            fh.flush()
            self.opened.set()
            while not self.finish.wait(0.2):
                row = {**VALID["ops.shipments"], "shipment_id": f"S-G{self.rows}"}
                fh.write(",".join(row.values()) + "\n")
                fh.flush()
                self.rows += 1


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def run_cli(landing: Path, warehouse: Path, tmp: Path) -> Run:
    env = {
        **os.environ,
        "KPI_GX_DIR": str(tmp / "gx"),
        # Short, so that watching the file being written costs the run 5 s, not 10.
        "KPI_DELIVERY_QUIET_SECONDS": "1",
    }
    done = subprocess.run(
        [*CLI, "--landing-dir", str(landing), "--warehouse", str(warehouse)],
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=900,
        env=env,
        cwd=tmp,
    )
    return Run(done.returncode, done.stdout, done.stderr)


@dataclass
class Runs:
    landing: Path
    warehouse: Path
    tmp: Path
    first: Run
    second: Run
    writer_rows: int
    landing_before: list[dict]
    landing_after: list[dict]
    published_before: str
    published_after: str
    raw_before: dict[str, list[tuple]]
    raw_after: dict[str, list[tuple]]


def _published_digest(warehouse: Path) -> str:
    published = warehouse.with_name(f"{warehouse.stem}.published.duckdb")
    return hashlib.sha256(published.read_bytes()).hexdigest()


def _raw_of_failing_entities(warehouse: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = {
            case.entity: con.execute(
                f"select * exclude (_loaded_at) from raw_{case.entity} order by all"
            ).fetchall()
            for case in FAILS.values()
        }
        tables["ingest.delivery_files"] = con.execute(
            "select system, entity, delivery_file, file_sha256, rows_delivered "
            "from ingest.delivery_files order by all"
        ).fetchall()
        return tables
    finally:
        con.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    tmp = tmp_path_factory.mktemp("hostile")
    landing, warehouse = tmp / "landing", tmp / "wh" / "warehouse.duckdb"
    outside = tmp / "outside.csv"
    outside.write_text(rows_of("crm.opportunities", {"opportunity_id": "P-OUTSIDE"}))
    _write_landing(landing)
    growing = _folder(landing, GROWING[0]) / GROWING[1]
    writer = Writer(growing)
    growing_key = os.fsencode(growing)

    def without_growing(snap: dict) -> dict:
        return {k: v for k, v in snap.items() if k != growing_key}

    # First run: everything that loads, and a file still being written throughout.
    writer.start()
    assert writer.opened.wait(10)
    set_writable(landing, False)
    before = [without_growing(snapshot(landing))]
    try:
        first = run_cli(landing, warehouse, tmp)
    finally:
        writer.finish.set()
        writer.join()
    after = [without_growing(snapshot(landing))]
    assert first.returncode == 0, first.stderr[-4000:]

    # Second run: the written file is complete; the files that must fail are added.
    set_writable(landing, True)
    for key in FAILS:
        _write_failing(landing, outside, key)
    set_writable(landing, False)
    published_before = _published_digest(warehouse)
    raw_before = _raw_of_failing_entities(warehouse)
    before.append(snapshot(landing))
    second = run_cli(landing, warehouse, tmp)
    after.append(snapshot(landing))
    set_writable(landing, True)
    return Runs(
        landing=landing,
        warehouse=warehouse,
        tmp=tmp,
        first=first,
        second=second,
        writer_rows=writer.rows,
        landing_before=before,
        landing_after=after,
        published_before=published_before,
        published_after=_published_digest(warehouse),
        raw_before=raw_before,
        raw_after=_raw_of_failing_entities(warehouse),
    )


def query(runs: Runs, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(runs.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


# --- files that load ------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(LOADS))
def test_hostile_file_loads_or_quarantines_its_bad_rows(runs, key):
    case = LOADS[key]
    system, entity = case.entity.split(".")
    [account] = query(
        runs,
        "select rows_delivered, rows_loaded, rows_quarantined from ingest.delivery_files "
        "where system = ? and entity = ? and delivery_file = ?",
        [system, entity, case.name],
    )
    quarantined = case.delivered - case.loaded
    assert account == (case.delivered, case.loaded, quarantined)
    reasons = query(
        runs,
        "select reasons from ingest.quarantine "
        "where system = ? and entity = ? and delivery_file = ? order by file_row",
        [system, entity, case.name],
    )
    assert len(reasons) == quarantined == len(case.reasons)
    for (reason,), expected in zip(reasons, case.reasons, strict=True):
        assert expected in reason
    if case.names:
        loaded = query(
            runs,
            f"select account_id, account_name from raw_{case.entity} "
            "where _delivery_file = ? order by _file_row",
            [case.name],
        )
        assert loaded == list(case.names)


def test_a_ten_mib_field_loads_whole(runs):
    [(length, head)] = query(
        runs,
        "select length(account_name), left(account_name, 3) from raw_crm.accounts "
        "where account_id = 'A-BIG'",
    )
    assert (length, head) == (TEN_MIB, "xxx")


def test_parquet_values_of_the_wrong_type_are_typed_by_the_contract(runs):
    rows = query(
        runs,
        "select line_number, quantity, unit_price, discount_amount, _extra "
        "from raw_sales.order_lines where _delivery_file = '2026-10-02.parquet'",
    )
    assert rows == [(11, 2, Decimal("5"), None, '{"meta":"{\'a\': 1}"}')]


def test_file_names_reach_no_shell(runs):
    assert not (runs.tmp / "pwned").exists()
    assert not Path("pwned").exists()


# --- a file still being written ---------------------------------------------------------


def test_a_file_being_written_is_left_for_the_next_run(runs):
    system, entity = GROWING[0].split(".")
    name = GROWING[1]
    assert f"{name} of {GROWING[0]} is still being written" in runs.first.stderr
    # The second run found it complete and loaded every row the writer wrote.
    assert runs.writer_rows > 0
    [(delivered, loaded)] = query(
        runs,
        "select rows_delivered, rows_loaded from ingest.delivery_files "
        "where system = ? and entity = ? and delivery_file = ?",
        [system, entity, name],
    )
    assert delivered == loaded == runs.writer_rows
    first_loaded = query(
        runs,
        "select count(*) from ingest.load_log where delivery_file = ? and action = 'loaded'",
        [name],
    )
    assert first_loaded == [(1,)]


# --- files that fail their entity ---------------------------------------------------------


@pytest.mark.parametrize("key", sorted(FAILS))
def test_hostile_file_fails_its_entity_with_one_sentence(runs, key):
    case = FAILS[key]
    assert runs.second.returncode == 1
    shown = case.name if isinstance(case.name, str) else repr(case.name)[2:-1]
    lines = [
        line
        for line in runs.second.stderr.splitlines()
        if "error:" in line and shown in line and all(w in line for w in case.words)
    ]
    assert lines, f"no error naming {shown}: {runs.second.stderr[-3000:]}"
    # The step's own log line: exactly the one sentence.
    sentence = lines[0].split("error: ", 1)[1]
    assert sentence.startswith("Delivery file ")
    assert sentence.endswith(".")
    assert ". " not in sentence.removeprefix(sentence.split(" of ")[0])
    # All or nothing: the entity's raw table is as it was before the run.
    assert runs.raw_after[case.entity] == runs.raw_before[case.entity]


def test_failed_run_keeps_the_published_copy_and_names_the_first_failure(runs):
    assert runs.second.returncode == 1
    assert runs.published_after == runs.published_before
    last = runs.second.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Delivery file ")
    assert "Nothing was published" in last


def test_failed_files_are_not_booked(runs):
    booked = {
        (system, entity, name)
        for system, entity, name, *_ in runs.raw_after["ingest.delivery_files"]
    }
    for case in FAILS.values():
        system, entity = case.entity.split(".")
        name = case.name if isinstance(case.name, str) else os.fsdecode(case.name)
        assert (system, entity, name) not in booked
        assert (system, entity, "2026-10-01.csv") in booked


# --- every run ----------------------------------------------------------------------------


def test_no_traceback_in_either_run(runs):
    for run in (runs.first, runs.second):
        assert "Traceback" not in run.stderr
        assert "Traceback" not in run.stdout


def test_every_delivered_row_is_loaded_or_quarantined(runs):
    con = duckdb.connect(str(runs.warehouse), read_only=True)
    try:
        assert_accounting(con)
        files = con.execute("select count(*) from ingest.delivery_files").fetchone()[0]
    finally:
        con.close()
    # One valid file per entity, every loading case and the written file.
    assert files == len(VALID) + len(LOADS) + 1


def test_the_landing_directory_is_only_read(runs):
    for before, after in zip(runs.landing_before, runs.landing_after, strict=True):
        assert after == before
