"""Templates to PDF: jinja2 with autoescaping, WeasyPrint with a fetcher that loads
nothing but the bundled assets.

Every string from the warehouse or a commentary file is data. Autoescaping turns markup
in it into text; the fetcher is the second line: even a reference that reached the
HTML could load only files under ``reports/static`` and the charts of this render.
"""

from __future__ import annotations

import gc
import logging
import mimetypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import jinja2

from reports.formatting import MINUS

if TYPE_CHECKING:
    from reports.model import Scorecard

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

LOGGER = logging.getLogger(__name__)

PDF_VARIANT = "pdf/ua-1"

_MIME = {
    ".css": "text/css",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
}


class RefusedURL(ValueError):
    """A URL outside the bundled assets; WeasyPrint skips the resource."""


def _weasyprint():
    # Imported on first use: loading Pango costs time the CLI's other commands don't need.
    import weasyprint
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    return weasyprint, URLFetcher, URLFetcherResponse


def make_fetcher(assets: dict[str, tuple[bytes, str]] | None = None, static_dir: Path = STATIC_DIR):
    """A WeasyPrint URL fetcher serving ``static_dir`` files and in-memory ``assets`` only.

    No network, no other file, no ``data:`` URL; every refusal is recorded in
    ``fetcher.refused`` so a render can report what it declined.
    """
    _, URLFetcher, URLFetcherResponse = _weasyprint()
    root = Path(static_dir).resolve()
    generated = dict(assets or {})

    class BundledAssetFetcher(URLFetcher):
        def __init__(self):
            # No protocol is allowed to the parent class: it is never asked to open one.
            super().__init__(allowed_protocols=(), allow_redirects=False)
            self.refused: list[str] = []
            self.served: list[str] = []

        def _refuse(self, url: str, why: str):
            self.refused.append(url)
            LOGGER.warning("scorecard renderer refused %s: %s", url[:200], why)
            raise RefusedURL(f"refused {url[:200]}: {why}")

        def fetch(self, url, headers=None):
            if url in generated:
                body, mime = generated[url]
                self.served.append(url)
                return URLFetcherResponse(url, body=body, headers={"Content-Type": mime})
            parts = urlsplit(url)
            if parts.scheme.lower() != "file":
                return self._refuse(url, "only the bundled assets are loaded")
            if parts.netloc not in ("", "localhost"):
                return self._refuse(url, "remote file URL")
            try:
                resolved = Path(url2pathname(unquote(parts.path))).resolve()
            except (OSError, RuntimeError, ValueError):
                return self._refuse(url, "not a file path")
            # Resolved first, so neither '..' nor a symlink can lead out of the folder.
            if not resolved.is_relative_to(root):
                return self._refuse(url, "outside the bundled assets")
            if not resolved.is_file():
                return self._refuse(url, "no such bundled asset")
            mime = _MIME.get(resolved.suffix.lower()) or (
                mimetypes.guess_type(resolved.name)[0] or "application/octet-stream"
            )
            self.served.append(url)
            return URLFetcherResponse(
                resolved.as_uri(), body=resolved.read_bytes(), headers={"Content-Type": mime}
            )

    return BundledAssetFetcher()


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        # Every template is HTML: escape everything, whatever the file name.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["MINUS"] = MINUS
    env.filters["pct"] = lambda value, places=0: f"{value * 100:.{places}f}%"
    return env


_ENV: jinja2.Environment | None = None
_ENV_LOCK = threading.Lock()
_PRELOAD: threading.Thread | None = None


def _template() -> jinja2.Template:
    global _ENV
    with _ENV_LOCK:
        if _ENV is None:
            _ENV = _environment()
        # Compiled once per process, then cached by the environment.
        return _ENV.get_template("scorecard.html.j2")


def _preload() -> None:
    try:
        _weasyprint()
        _template()
        # The templates the scorecard includes are compiled when it renders: do it now.
        for name in _ENV.list_templates(filter_func=lambda name: name.endswith(".j2")):
            _ENV.get_template(name)
    except Exception:  # noqa: BLE001 - the render itself reports any error, in its own words
        LOGGER.debug("scorecard renderer preload failed", exc_info=True)


def start_preload() -> None:
    """Load WeasyPrint (Pango, fonts) and compile the templates in the background.

    Called before a scorecard is read from the warehouse: both are one-off costs of a
    process (about half a second), and the reads spend most of their time in DuckDB,
    outside Python's lock, so the two overlap instead of adding up. A render that starts
    before the preload ends waits for it on the import lock.
    """
    global _PRELOAD
    with _ENV_LOCK:
        if _PRELOAD is None:
            _PRELOAD = threading.Thread(target=_preload, name="scorecard-preload", daemon=True)
            _PRELOAD.start()


@contextmanager
def older_objects_left_alone() -> Iterator[None]:
    """Keep the garbage collector's full passes to the objects made inside the block.

    A render makes millions of short-lived objects, which trigger a dozen or more full
    collections, and each one walked every object the process already held (pandas,
    DuckDB, matplotlib, Dagster): about a sixth of the render. Those are frozen for the
    block's duration (``gc.freeze``) and handed back to the collector after it, so
    nothing is kept alive longer than it would be otherwise.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def render_html(scorecard: Scorecard) -> str:
    return _template().render(sc=scorecard)


def html_to_pdf(
    html: str, assets: dict[str, tuple[bytes, str]] | None = None
) -> tuple[bytes, int, list[str]]:
    """PDF bytes, page count and refused URLs of ``html`` (relative URLs: ``static/``)."""
    weasyprint, _, _ = _weasyprint()
    from weasyprint.text.fonts import FontConfiguration

    fetcher = make_fetcher(assets)
    document = weasyprint.HTML(
        string=html, base_url=STATIC_DIR.as_uri() + "/", url_fetcher=fetcher
    ).render(font_config=FontConfiguration())
    # Tagged (PDF/UA-1): screen readers get the headings, tables and reading order, and
    # the charts' alt text.
    pdf = document.write_pdf(pdf_variant=PDF_VARIANT)
    return pdf, len(document.pages), list(fetcher.refused)
