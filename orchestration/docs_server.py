"""``kpi-warehouse docs``: the dbt docs and the GX Data Docs, side by side, over HTTP.

Links to the Data Docs used to be file paths on the server: plain text in the Dagster UI,
and a browser does not follow a ``file://`` link from an http page. One loopback server
serves both sites instead:

- ``/dbt/``: the dbt docs (``dbt_project/target/docs``: ``index.html``, ``manifest.json``,
  ``catalog.json``), generated with ``dbt docs generate`` when missing;
- ``/quality/``: the Data Docs (``<KPI_GX_DIR>/data_docs``);
- ``/``: a page linking both.

``KPI_DOCS_URL`` (default ``http://127.0.0.1:8080``) is where users reach this server;
every Data Docs link the pipeline emits starts with it.
"""

from __future__ import annotations

import html
import os
import posixpath
import subprocess
import sys
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

DEFAULT_DOCS_URL = "http://127.0.0.1:8080"
DBT_PREFIX = "/dbt/"
QUALITY_PREFIX = "/quality/"
DBT_DOCS_FILES = ("index.html", "manifest.json", "catalog.json")


def docs_url() -> str:
    """``KPI_DOCS_URL`` without a trailing slash: the base of every docs link."""
    return (os.environ.get("KPI_DOCS_URL") or DEFAULT_DOCS_URL).strip().rstrip("/")


def data_docs_url(gx_dir: Path | str, page: Path | str | None = None) -> str:
    """The URL of a Data Docs page (a file of ``<gx_dir>/data_docs``; default the index)."""
    site = (Path(gx_dir) / "data_docs").resolve()
    relative = "index.html"
    if page:
        try:
            relative = Path(page).resolve().relative_to(site).as_posix()
        except ValueError:  # not a page of this site: the index is the best link left
            relative = "index.html"
    return f"{docs_url()}{QUALITY_PREFIX}{quote(relative)}"


def _index_page(dbt_ready: bool, quality_ready: bool) -> bytes:
    def entry(href: str, title: str, what: str, ready: bool) -> str:
        if ready:
            return f'<li><a href="{href}">{title}</a>: {html.escape(what)}</li>'
        return f"<li>{title}: not built yet ({html.escape(what)})</li>"

    items = [
        entry(
            DBT_PREFIX,
            "dbt docs",
            "KPI definitions, formulas, owners, lineage to the sources",
            dbt_ready,
        ),
        entry(
            QUALITY_PREFIX,
            "Data Docs",
            "the data-quality suites and the results of the latest runs",
            quality_ready,
        ),
    ]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>KPI warehouse docs</title>"
        "</head><body><h1>KPI warehouse docs</h1><ul>" + "".join(items) + "</ul></body></html>"
    ).encode()


class DocsHandler(SimpleHTTPRequestHandler):
    """Static files of two roots, chosen by the path's prefix; nothing else is served."""

    def __init__(self, *args, roots: dict[str, Path], quiet: bool = False, **kwargs):
        self.roots = roots
        self.quiet = quiet
        super().__init__(*args, directory=str(next(iter(roots.values()))), **kwargs)

    def _root(self) -> tuple[str, Path] | None:
        path = urlsplit(self.path).path
        for prefix, root in self.roots.items():
            if path.startswith(prefix):
                return prefix, root
        return None

    def translate_path(self, path: str) -> str:
        chosen = self._root()
        if chosen is None:
            return ""
        prefix, root = chosen
        self.directory = str(root)
        rest = "/" + urlsplit(path).path[len(prefix) :]
        # The parent's mapping normalises the path and drops "..": it stays in the root.
        return super().translate_path(posixpath.normpath(rest) if rest != "/" else rest)

    def send_head(self):
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            body = _index_page(*((root / "index.html").is_file() for root in self.roots.values()))
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return _Body(body)
        if path.rstrip("/") in (p.rstrip("/") for p in self.roots) and not path.endswith("/"):
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self.send_header("Location", path + "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if self._root() is None:
            self.send_error(
                HTTPStatus.NOT_FOUND, "Not found: the docs are under /dbt/ and /quality/"
            )
            return None
        return super().send_head()

    def list_directory(self, path):
        self.send_error(HTTPStatus.NOT_FOUND, "No index page here")
        return None

    def log_message(self, format, *args):  # noqa: A002 (the parent's signature)
        if not self.quiet:
            super().log_message(format, *args)


class _Body:
    """The in-memory index page, read the way the parent copies a file."""

    def __init__(self, data: bytes):
        self.data = data

    def read(self, *_):
        data, self.data = self.data, b""
        return data

    def close(self):
        pass


def dbt_docs_dir(dbt_project_dir: Path) -> Path:
    """Where the generated dbt docs live: their own target folder, because generating them
    rewrites manifest.json there, and target/manifest.json is what pipeline runs load."""
    return dbt_project_dir / "target" / "docs"


def generate_dbt_docs(dbt_project_dir: Path, warehouse: Path) -> None:
    """``dbt docs generate`` (the catalog reads the warehouse); one sentence on failure."""
    env = {**os.environ, "KPI_WAREHOUSE_PATH": str(warehouse)}
    dbt = Path(sys.executable).parent / "dbt"
    result = subprocess.run(
        [str(dbt if dbt.exists() else "dbt"), "docs", "generate", "--profiles-dir", "."]
        + ["--target-path", str(dbt_docs_dir(dbt_project_dir).relative_to(dbt_project_dir))],
        cwd=dbt_project_dir,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()] or lines or ["no output"]
        raise RuntimeError(f"dbt docs generate failed: {errors[0].strip()}")


def make_server(
    dbt_dir: Path, quality_dir: Path, host: str = "127.0.0.1", port: int = 8080, quiet=False
) -> ThreadingHTTPServer:
    roots = {DBT_PREFIX: Path(dbt_dir), QUALITY_PREFIX: Path(quality_dir)}
    return ThreadingHTTPServer((host, port), partial(DocsHandler, roots=roots, quiet=quiet))
