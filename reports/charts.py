"""The scorecard's charts, drawn by matplotlib (Agg) into PNG bytes held in memory.

PNGs keep WeasyPrint fast (an SVG is re-parsed and drawn path by path); each chart is
small, and the whole report has two per KPI. Figures are made without pyplot, so no
global state is shared between renders in one process (Dagster runs several).
Chart text comes only from our own labels and dates; source text never reaches
matplotlib, whose mathtext would interpret it.
"""

from __future__ import annotations

import io
from datetime import date
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator  # noqa: E402
from PIL import Image  # noqa: E402

if TYPE_CHECKING:
    from reports.model import KpiView, Scorecard

ASSET_SCHEME = "scorecard-asset"

INK = "#1d2733"
MUTED = "#8a96a3"
GRID = "#e3e7ec"
# Okabe–Ito based: distinguishable with the common colour-vision deficiencies; the
# markers also differ in shape, so greyscale prints keep the status.
STATUS_STYLE = {
    "green": {"color": "#00785a", "marker": "o", "fill": "white"},
    "amber": {"color": "#d08c00", "marker": "D", "fill": "#f2c14e"},
    "red": {"color": "#b83a00", "marker": "s", "fill": "#b83a00"},
}
MM = 1 / 25.4
SPARK_SIZE = (30 * MM, 5.8 * MM)
TREND_SIZE = (70 * MM, 25.5 * MM)
DPI = 180

_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 6.5,
    "text.parse_math": False,
    "axes.linewidth": 0.5,
    "axes.edgecolor": MUTED,
    "xtick.color": INK,
    "ytick.color": INK,
    "xtick.major.width": 0.5,
    "ytick.major.width": 0.5,
    "xtick.major.size": 2,
    "ytick.major.size": 0,
    "savefig.dpi": DPI,
}


def _png(fig: Figure) -> bytes:
    """The figure as an opaque RGB PNG.

    No alpha channel (WeasyPrint would split it into a second image), light compression
    (WeasyPrint recompresses anyway) and no metadata, so the same data gives the same
    bytes.
    """
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    width, height = canvas.get_width_height(physical=True)
    image = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _axis_formatter(unit: str, decimals: int) -> FuncFormatter:
    def fmt(value: float, _pos) -> str:
        if unit == "ratio":
            shown = value * 100
            places = max(0, min(decimals, 2))
            return f"{shown:.{places}f}%"
        if unit == "usd":
            magnitude = abs(value)
            if magnitude >= 1e6:
                return f"${value / 1e6:.1f}M"
            if magnitude >= 1e4:
                return f"${value / 1e3:.0f}k"
            return f"${value:,.0f}"
        if unit == "count":
            return f"{value:,.0f}"
        return f"{value:.{min(decimals, 2)}f}"

    return FuncFormatter(fmt)


class _Painter:
    """One figure reused for every chart of a kind: making axes and ticks is most of
    matplotlib's cost, drawing a dozen points is nothing."""

    def __init__(self, size: tuple[float, float], rect: tuple[float, float, float, float]):
        self.fig = Figure(figsize=size, dpi=DPI)
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes(rect)

    def reset(self):
        ax = self.ax
        for artist in [*ax.lines, *ax.texts, *ax.collections, *ax.patches]:
            artist.remove()
        # A chart without data fixes its limits; the next one must scale to its own.
        ax.autoscale(enable=True)
        return ax

    def png(self) -> bytes:
        self.ax.relim()
        self.ax.autoscale_view()
        return _png(self.fig)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _sparkline(painter: _Painter, kpi: KpiView) -> bytes:
    ax = painter.reset()
    xs = list(range(len(kpi.trend)))
    if any(p.target is not None for p in kpi.trend):
        ax.plot(
            xs,
            [_nan(p.target) for p in kpi.trend],
            color=MUTED,
            linewidth=0.6,
            linestyle=(0, (2, 1.5)),
        )
    ax.plot(xs, [_nan(p.value) for p in kpi.trend], color=INK, linewidth=0.9)
    last = kpi.trend[-1]
    style = STATUS_STYLE.get(last.status.code, {})
    if last.value is not None:
        ax.plot(
            [xs[-1]],
            [last.value],
            marker=style.get("marker", "o"),
            markersize=2.6,
            markerfacecolor=style.get("fill", INK),
            markeredgecolor=style.get("color", INK),
            markeredgewidth=0.8,
        )
    ax.set_xlim(-0.5, len(xs) - 0.5)
    return painter.png()


def _trend_chart(painter: _Painter, kpi: KpiView) -> bytes:
    ax = painter.reset()
    xs = list(range(len(kpi.trend)))
    values = [_nan(p.value) for p in kpi.trend]
    if any(p.target is not None for p in kpi.trend):
        ax.step(
            xs,
            [_nan(p.target) for p in kpi.trend],
            where="mid",
            color=MUTED,
            linewidth=1.0,
            linestyle=(0, (4, 2)),
        )
    ax.plot(xs, values, color=INK, linewidth=1.2)
    for code, style in STATUS_STYLE.items():
        points = [(x, p.value) for x, p in zip(xs, kpi.trend, strict=True) if p.status.code == code]
        if points:
            ax.plot(
                [x for x, _ in points],
                [y for _, y in points],
                linestyle="none",
                marker=style["marker"],
                markersize=3.6,
                markerfacecolor=style["fill"],
                markeredgecolor=style["color"],
                markeredgewidth=0.9,
            )
    for note in kpi.definition_notes:
        if note.in_window:
            month = date(note.effective_from.year, note.effective_from.month, 1)
            index = next((i for i, p in enumerate(kpi.trend) if p.month == month), None)
            if index is not None:
                ax.axvline(index - 0.5, color=MUTED, linewidth=0.6, linestyle=":")
                ax.annotate(
                    f"v{note.version}",
                    (index - 0.4, 1.0),
                    xycoords=("data", "axes fraction"),
                    va="top",
                    fontsize=5.5,
                    color=MUTED,
                )
    ax.margins(y=0.12)
    ax.set_xlim(-0.6, len(xs) - 0.4)
    ax.set_xticks(xs)
    ax.set_xticklabels(
        [
            p.month.strftime("%b %y") if i % 3 == 0 or i == len(xs) - 1 else ""
            for i, p in enumerate(kpi.trend)
        ]
    )
    ax.yaxis.set_major_formatter(_axis_formatter(kpi.unit, kpi.decimals))
    if all(v != v for v in values):  # no month has a value
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color=MUTED)
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_locator(FixedLocator([]))
        return _png(painter.fig)
    ax.yaxis.set_major_locator(MaxNLocator(4))
    return painter.png()


def _trend_painter(size: tuple[float, float] = TREND_SIZE) -> _Painter:
    # Margins in inches, so a chart of another size keeps the same tick room.
    left, bottom = 0.5 / size[0], 0.2 / size[1]
    painter = _Painter(size, (left, bottom, 0.985 - left, 0.96 - bottom))
    ax = painter.ax
    ax.grid(axis="y", color=GRID, linewidth=0.5)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return painter


def _spark_painter() -> _Painter:
    painter = _Painter(SPARK_SIZE, (0.03, 0.12, 0.9, 0.76))
    painter.ax.set_axis_off()
    return painter


def sparkline(kpi: KpiView) -> bytes:
    with matplotlib.rc_context(_RC):
        return _sparkline(_spark_painter(), kpi)


def trend_chart(kpi: KpiView) -> bytes:
    with matplotlib.rc_context(_RC):
        return _trend_chart(_trend_painter(), kpi)


def attach_charts(scorecard: Scorecard) -> None:
    """Draw every chart of the scorecard and register it as an in-memory asset."""
    scorecard.assets.clear()
    with matplotlib.rc_context(_RC):
        spark_painter, trend_painter = _spark_painter(), _trend_painter()
        for index, kpi in enumerate(scorecard.kpis):
            spark = f"{ASSET_SCHEME}:spark-{index}.png"
            trend = f"{ASSET_SCHEME}:trend-{index}.png"
            scorecard.assets[spark] = (_sparkline(spark_painter, kpi), "image/png")
            scorecard.assets[trend] = (_trend_chart(trend_painter, kpi), "image/png")
            kpi.sparkline = spark
            kpi.trend_chart = trend
        score = scorecard.company_score
        if score is not None:
            url = f"{ASSET_SCHEME}:spark-company-score.png"
            scorecard.assets[url] = (_sparkline(spark_painter, score), "image/png")
            score.sparkline = url
