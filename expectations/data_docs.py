"""Make the GX Data Docs site work offline: no page loads or links anything outside it.

GX's page templates load Bootstrap, jQuery, bootstrap-table, Font Awesome and more from
public CDNs and show a logo from GX's servers whose URL carries the context's id. Without
internet the pages are empty, and opening one contacts outside hosts. GX 1.x offers no
way to change those links (its own templates come first in the template lookup, so a
custom views directory cannot replace them), so the built pages are rewritten instead:

- every CDN asset points at the copy vendored in ``expectations/static/vendor/`` (npm
  packages with their licences), copied once into ``data_docs/static/vendor/``;
- the logo is GX's own ``static/images/logo-long.png``, which the site already holds;
- the dark theme's logo (a background image from GX's servers) is left out;
- links to GX's website (and its newsletter footer) are dropped, keeping their text;
- the Vega chart scripts are dropped: the rules render no charts.

Rewriting is idempotent, so every build rewrites the whole site, old pages included.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

VENDOR_DIR = Path(__file__).parent / "static" / "vendor"
SITE_VENDOR = Path("static") / "vendor"
LOGO = Path("static") / "images" / "logo-long.png"

# Every CDN URL of GX's templates and the vendored file that replaces it.
CDN_ASSETS = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap/bootstrap.min.js"
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js/popper.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "bootstrap-table/bootstrap-table-filter-control.min.js"
    ),
    # The templates ask for the 1.19.0 stylesheet of the extension next to the 1.19.1
    # script; the 1.19.1 one is the same stylesheet of the script actually loaded.
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": (
        "bootstrap-table/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": "bootstrap-table/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome/css/all.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "bootstrap-datepicker/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "bootstrap-datepicker/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "bootstrap-dark/bootstrap-prefers-dark.min.css",
}
# Scripts left out on purpose: the Vega libraries draw the charts of GX's profiling and
# distribution expectations, which the rules (unexpected-rows queries) never render.
DROPPED = frozenset(
    {
        "https://cdn.jsdelivr.net/npm/vega@5",
        "https://cdn.jsdelivr.net/npm/vega-lite@5",
        "https://cdn.jsdelivr.net/npm/vega-embed@6",
    }
)

_ASSET_TAG = re.compile(
    r"<(?P<tag>script|link)\b[^>]*?\b(?:src|href)=\"(?P<url>https?://[^\"]+)\"[^>]*>"
    r"(?:\s*</script>)?",
    re.IGNORECASE,
)
_LOGO = re.compile(r"src=\"https?://great-expectations-web-assets[^\"]*/logo-long\.png[^\"]*\"")
_FOOTER = re.compile(r"<footer>(?:(?!</footer>).)*?https?://(?:(?!</footer>).)*</footer>", re.S)
# The dark theme's logo, a background image from GX's servers: no logo instead.
_CSS_URL = re.compile(r"url\(['\"]?https?://[^)]*\)")
_EXTERNAL_LINK = re.compile(r"<a\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*>(?P<text>.*?)</a>", re.S)


def _relative(target: Path, page: Path) -> str:
    return Path(os.path.relpath(target, page.parent)).as_posix()


def _copy_vendor(site: Path) -> None:
    """Copy the vendored assets into the site, skipping what is there already."""
    for source in VENDOR_DIR.rglob("*"):
        if not source.is_file():
            continue
        target = site / SITE_VENDOR / source.relative_to(VENDOR_DIR)
        if target.is_file() and target.stat().st_size == source.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def offline_page(html: str, page: Path, site: Path) -> str:
    """The page ``html`` (a file ``page`` of the site in ``site``) without outside links."""
    vendor = site / SITE_VENDOR

    def asset(match: re.Match) -> str:
        url = match["url"]
        local = CDN_ASSETS.get(url)
        if local is None:
            if url not in DROPPED:
                log.warning("Data Docs page %s loads %s, which is not vendored: dropped", page, url)
            return ""
        href = _relative(vendor / local, page)
        if match["tag"].lower() == "script":
            return f'<script src="{href}"></script>'
        return f'<link rel="stylesheet" type="text/css" href="{href}">'

    html = _ASSET_TAG.sub(asset, html)
    html = _LOGO.sub(f'src="{_relative(site / LOGO, page)}"', html)
    html = _FOOTER.sub("", html)
    html = _CSS_URL.sub("none", html)
    return _EXTERNAL_LINK.sub(lambda m: m["text"], html)


def make_offline(site: Path) -> int:
    """Rewrite every page of the Data Docs site in ``site``; the number of pages changed."""
    site = Path(site)
    if not site.is_dir():
        return 0
    _copy_vendor(site)
    changed = 0
    pages = [*site.rglob("*.html"), *site.rglob("*.css")]
    for page in pages:
        if not page.is_file() or SITE_VENDOR in page.relative_to(site).parents:
            continue
        html = page.read_text(encoding="utf-8")
        rewritten = offline_page(html, page, site)
        if rewritten != html:
            page.write_text(rewritten, encoding="utf-8")
            changed += 1
    return changed
