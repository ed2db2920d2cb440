"""How numbers are printed: one function per kind of number and place. The scorecard's
(``format_value`` and the others with a number of decimals) are used by the templates,
the email summary and the tests that read the PDF back; the alerts, reminders and
operations tables print ``format_plain``, the definitions' docs ``format_exact``, the
Dagster previews ``format_compact``.

A KPI is printed with just enough digits to tell its amber band apart from its target:
an availability target of 99.7% with a 0.2% band needs two decimals, a win rate of 30%
with a 10% band needs one. So a status change is always visible in the digits.
"""

from __future__ import annotations

import math

MINUS = "\u2212"  # a typographic minus: the same width as "+", never read as a hyphen

# Scores (0-100) print with one decimal: the change shown is what the two scores give.
SCORE_DECIMALS = 1

UNIT_SUFFIX = {"hours": " h", "days": " days", "score": "", "count": "", "ratio": "%", "usd": ""}


def _is_missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def decimals_for(unit: str, target: float | None, tolerance: float | None) -> int:
    """Digits after the point for a KPI's values, from the width of its amber band."""
    if unit == "count":
        return 0
    scale = 100.0 if unit == "ratio" else 1.0
    if _is_missing(target) or _is_missing(tolerance) or not target or not tolerance:
        return {"ratio": 1, "usd": 0, "hours": 1, "days": 2, "score": 2}.get(unit, 2)
    band = abs(target) * tolerance * scale
    digits = max(0, math.ceil(-math.log10(band)) + 1)
    if unit == "usd":
        # Money is whole dollars or cents, never tenths.
        return 0 if digits == 0 else 2
    return min(max(digits, 1), 3)


def _grouped(number: float, decimals: int) -> str:
    text = f"{abs(number):,.{decimals}f}"
    return text


def _sign(number: float, decimals: int, signed: bool) -> str:
    if round(abs(number), decimals) == 0:
        return ""
    if number < 0:
        return MINUS
    return "+" if signed else ""


def format_value(value: float | None, unit: str, decimals: int) -> str:
    """A value or target in its unit: $3,350,530 · 95.4% · 5.5 h · 2.81 days · 4.09 · 22."""
    if _is_missing(value):
        return "—"
    shown = value * 100.0 if unit == "ratio" else value
    sign = _sign(shown, decimals, signed=False)
    body = _grouped(shown, decimals)
    if unit == "usd":
        return f"{sign}${body}"
    return f"{sign}{body}{UNIT_SUFFIX.get(unit, '')}"


def format_brief(value: float | None, unit: str, decimals: int) -> str:
    """A value where space is short: dollars of a million or more in millions ($48.21M),
    anything else as ``format_value`` prints it."""
    if value is not None and unit == "usd" and abs(value) >= 1_000_000:
        sign = MINUS if value < 0 else ""
        return f"{sign}${abs(value) / 1_000_000:,.2f}M"
    return format_value(value, unit, decimals)


def format_plain(value: float | None, unit: str | None) -> str:
    """A value in a line of plain text (alerts, reminders, the operations tables), with
    fixed digits per unit: 95.4% · $3,350,530.40 · 22 · 5.50 hours · 4.09; n/a if none."""
    if value is None:
        return "n/a"
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "usd":
        return f"${value:,.2f}"
    if unit == "count":
        return f"{value:,.0f}"
    if unit in ("hours", "days"):
        return f"{value:,.2f} {unit}"
    return f"{value:,.2f}"


def exact_number(value: float) -> str:
    """A number with every digit it was written with (up to six decimals): 0.925, 1,000."""
    text = f"{value:,.6f}".rstrip("0").rstrip(".")
    return text.replace("-", MINUS)


def format_exact(value: float | None, unit: str) -> str:
    """A registry number as written, in words for the docs: 92.5% · 1,000 USD · 48 hours."""
    if value is None:
        return "none"
    if unit == "ratio":
        return f"{exact_number(value * 100)}%"
    if unit == "usd":
        return f"{exact_number(value)} USD"
    if unit in ("hours", "days"):
        return f"{exact_number(value)} {unit}"
    return exact_number(value)


def format_compact(value: float | None) -> str:
    """Four significant digits without a unit, for a quick look (Dagster metadata)."""
    return "" if value is None else f"{value:,.4g}"


def format_score(score: float | None) -> str:
    return "—" if score is None else f"{score:.{SCORE_DECIMALS}f}"


def format_score_change(score: float | None, previous: float | None) -> str:
    """The change in points, as printed: what the reader can recompute from two scores."""
    if score is None or previous is None:
        return "n/a"
    delta = round(score, SCORE_DECIMALS) - round(previous, SCORE_DECIMALS)
    if round(delta, SCORE_DECIMALS) == 0:
        return f"{0:.{SCORE_DECIMALS}f}"
    sign = "+" if delta > 0 else MINUS
    return f"{sign}{abs(delta):.{SCORE_DECIMALS}f}"


def format_probability(probability: float | None) -> str:
    return "—" if probability is None else f"{probability * 100:.0f}%"


def format_difference(delta: float | None, unit: str, decimals: int) -> str:
    """A signed difference in the KPI's unit; ratios in percentage points."""
    if _is_missing(delta):
        return "—"
    shown = delta * 100.0 if unit == "ratio" else delta
    sign = _sign(shown, decimals, signed=True)
    body = _grouped(shown, decimals)
    if unit == "usd":
        return f"{sign}${body}"
    if unit == "ratio":
        return f"{sign}{body} pp"
    return f"{sign}{body}{UNIT_SUFFIX.get(unit, '')}"


def format_change(current: float | None, earlier: float | None, unit: str, decimals: int) -> str:
    """Change against an earlier period: percentage points for ratios, else percent."""
    if _is_missing(current) or _is_missing(earlier):
        return "n/a"
    if unit == "ratio":
        return format_difference(current - earlier, unit, decimals)
    if earlier == 0:
        return "n/a"
    relative = (current - earlier) / abs(earlier) * 100.0
    sign = _sign(relative, 1, signed=True)
    return f"{sign}{abs(relative):,.1f}%"


def change_value(current: float | None, earlier: float | None, unit: str) -> float | None:
    """The number ``format_change`` prints, unrounded (for ranking and arrows)."""
    if _is_missing(current) or _is_missing(earlier):
        return None
    if unit == "ratio":
        return current - earlier
    if earlier == 0:
        return None
    return (current - earlier) / abs(earlier)


# Slice codes are lower_snake_case words; these read as abbreviations.
ABBREVIATIONS = {"emea": "EMEA", "apac": "APAC", "latam": "LATAM", "smb": "SMB", "it": "IT"}
# Values of these dimensions are proper names: every word is capitalised.
PROPER_NAME_DIMENSIONS = {"region"}


def slice_label(dimension: str, value: str | None, names: dict[str, str] | None = None) -> str:
    """A slice value as a reader says it: its name from the data where the published copy
    has one (kpi.kpi_slice_labels: services), else the code in words.

    north_america -> North America, paid_search -> Paid search, emea -> EMEA; a value that
    is not a lower_snake_case code (an id such as SVC-PORTAL, a carrier's name) stays as
    written.
    """
    text = "" if value is None else str(value)
    if names and text in names:
        return names[text]
    if not text or text != text.lower() or not text.replace("_", "").isalpha():
        return text
    words = [w for w in text.split("_") if w]
    if dimension in PROPER_NAME_DIMENSIONS:
        words = [w[:1].upper() + w[1:] for w in words]
    else:
        words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(ABBREVIATIONS.get(w.lower(), w) for w in words)
