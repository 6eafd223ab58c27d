"""Geometry for the small inline SVG bar charts (no chart library, no CDN): the templates only
draw what is computed here."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # under the bar
    value: str  # above the bar
    title: str  # tooltip
    css: str = ""


@dataclass(frozen=True)
class Ref:
    """A short line across a bar's slot: e.g. the rooms available that day."""

    x1: float
    x2: float
    y: float
    title: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int
    top: int
    bottom: float  # y of the axis
    bars: list[Bar]
    refs: list[Ref]
    ticks: list[Tick]
    title: str


@dataclass(frozen=True)
class Item:
    label: str
    value: float
    value_text: str
    title: str
    ref: float | None = None
    ref_title: str = ""
    css: str = ""


def _nice_step(value: float, whole: bool) -> float:
    """The smallest round step (1, 2, 2.5 or 5 times a power of ten) of at least ``value``;
    never 2.5 for whole numbers, so their ticks stay whole."""
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if (whole and step == 2.5) or (whole and step * exp < 1):
            continue
        if value <= step * exp:
            return step * exp
    return 10 * exp


def bar_chart(
    items: list[Item],
    *,
    title: str,
    width: int = 560,
    height: int = 200,
    top_value: float | None = None,
    tick_format: str = "{:g}",
) -> BarChart:
    left, top, bottom_pad = 46, 18, 26
    plot_w, plot_h = width - left - 6, height - top - bottom_pad
    highest = max([i.value for i in items] + [i.ref or 0 for i in items] + [0])
    whole = all(float(v).is_integer() for i in items for v in (i.value, i.ref or 0))
    ymax = top_value if top_value is not None else 4 * _nice_step(highest / 4, whole)
    slot = plot_w / max(len(items), 1)
    bar_w = min(44.0, slot * 0.6)
    bottom = top + plot_h

    def y_of(v: float) -> float:
        return bottom - plot_h * min(v, ymax) / ymax

    bars, refs = [], []
    for n, item in enumerate(items):
        x = left + slot * n + (slot - bar_w) / 2
        y = y_of(item.value)
        bars.append(
            Bar(round(x, 1), round(y, 1), round(bar_w, 1), round(bottom - y, 1), item.label,
                item.value_text, item.title, item.css)
        )  # fmt: skip
        if item.ref is not None:
            refs.append(
                Ref(round(x - 5, 1), round(x + bar_w + 5, 1), round(y_of(item.ref), 1),
                    item.ref_title)
            )  # fmt: skip
    ticks = [Tick(round(y_of(ymax * k / 4), 1), tick_format.format(ymax * k / 4)) for k in range(5)]
    return BarChart(width, height, left, top, bottom, bars, refs, ticks, title)


# -- Kapacitet: supply against a demand band, per week ----------------------------------------


@dataclass(frozen=True)
class BandSlot:
    """One week: the supply bar, what is booked so far, and the demand band (low-high, mean)."""

    label: str
    x: float
    width: float
    supply: Bar
    booked: Bar
    band_y: float  # top of the band (high)
    band_height: float
    mean_y: float
    title: str
    css: str = ""


@dataclass(frozen=True)
class BandChart:
    width: int
    height: int
    left: int
    bottom: float
    slots: list[BandSlot]
    ticks: list[Tick]
    title: str
    legend: tuple[str, str, str]  # supply, booked, demand


@dataclass(frozen=True)
class BandItem:
    label: str
    supply: float
    booked: float
    low: float
    mean: float
    high: float
    title: str
    css: str = ""


def band_chart(
    items: list[BandItem],
    *,
    title: str,
    legend: tuple[str, str, str] = ("tider", "booket", "efterspørgsel"),
    width: int = 620,
    height: int = 230,
) -> BandChart:
    """A grouped chart per week: a wide bar for what is offered, a narrow bar inside it for
    what is booked so far, and the simulated demand as a band with its mean."""
    left, top, bottom_pad = 46, 18, 26
    plot_w, plot_h = width - left - 6, height - top - bottom_pad
    highest = max([max(i.supply, i.high, i.booked) for i in items] + [0])
    ymax = 4 * _nice_step(highest / 4, True) if highest > 0 else 4.0
    slot = plot_w / max(len(items), 1)
    bar_w = min(56.0, slot * 0.62)
    bottom = top + plot_h

    def y_of(v: float) -> float:
        return bottom - plot_h * min(max(v, 0.0), ymax) / ymax

    slots = []
    for n, item in enumerate(items):
        x = left + slot * n + (slot - bar_w) / 2
        ys = y_of(item.supply)
        yb = y_of(item.booked)
        inner = bar_w * 0.4
        slots.append(
            BandSlot(
                label=item.label,
                x=round(x, 1),
                width=round(bar_w, 1),
                supply=Bar(round(x, 1), round(ys, 1), round(bar_w, 1), round(bottom - ys, 1),
                           item.label, f"{item.supply:.0f}", item.title, "supply"),
                booked=Bar(round(x + (bar_w - inner) / 2, 1), round(yb, 1), round(inner, 1),
                           round(bottom - yb, 1), item.label, f"{item.booked:.0f}", item.title,
                           "booked"),
                band_y=round(y_of(item.high), 1),
                band_height=round(max(y_of(item.low) - y_of(item.high), 1.5), 1),
                mean_y=round(y_of(item.mean), 1),
                title=item.title,
                css=item.css,
            )
        )  # fmt: skip
    ticks = [Tick(round(y_of(ymax * k / 4), 1), f"{ymax * k / 4:.0f}") for k in range(5)]
    return BandChart(width, height, left, bottom, slots, ticks, title, legend)
