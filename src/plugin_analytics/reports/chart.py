"""The daily chart: messages per day as bars, CTA clicks as a line, as a small PNG."""

import io

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from plugin_analytics.reports.build import Day

BAR_COLOR = "#4f46e5"
LINE_COLOR = "#f59e0b"


def daily_chart(days: list[Day]) -> bytes:
    """A 600x260 PNG. A bare Figure, not pyplot: no global state or display, safe on any thread
    (saving a PNG uses the Agg renderer)."""
    figure = Figure(figsize=(6, 2.6), dpi=100)
    axes = figure.add_subplot()
    labels = [day.day.strftime("%a %d") for day in days]
    messages = [day.metrics["total_messages"] for day in days]
    clicks = [day.metrics["cta_clicks"] for day in days]
    axes.bar(labels, messages, color=BAR_COLOR, label="Messages")
    axes.plot(labels, clicks, color=LINE_COLOR, marker="o", linewidth=2, label="CTA clicks")
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.legend(frameon=False, loc="lower left", bbox_to_anchor=(0, 1), fontsize=8, ncols=2)
    axes.tick_params(labelsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
