"""Classed choropleth colours for grid indicators (web map and printed diagram alike).

Values are put into at most five classes by Fisher–Jenks natural breaks (mapclassify),
whose edges are then rounded to whole numbers — whole employers, whole percent — so the
legend reads "60%–75%" and not "59.87%–74.92%"; each grid is classed against the rounded
edges, so the legend and the colours never disagree.  Ramps are ColorBrewer sequential
schemes (as branca ships them), which print legibly and stay ordered in greyscale;
the dark end is always the end that needs attention (a low insurance rate, a high risk
share).  Grids without a value (a rate with no employer reporting headcount) are grey
and listed as 无数据.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import mapclassify
import numpy as np
import pandas as pd
from branca.utilities import color_brewer

from gisgrid.analysis.indicators import Indicator

__all__ = ["NO_DATA_COLOUR", "Classes", "classify_indicator"]

NO_DATA_COLOUR = "#d9d9d9"
MAX_CLASSES = 5
_JENKS_MAX = 300
_SCHEMES = {
    "employers": "Blues",
    "risk_share": "YlOrRd",
    "contract_rate": "YlOrRd",
    "insured_rate": "YlOrRd",
    "stale_share": "PuRd",
}


@dataclass(frozen=True)
class Classes:
    """The classes of one indicator over a set of grids.

    ``edges[i]`` is the upper bound of class i (inclusive); ``colours``, ``labels`` and
    ``counts`` (grids per class) are in the same ascending order.
    """

    indicator: Indicator
    edges: tuple[float, ...]
    colours: tuple[str, ...]
    labels: tuple[str, ...]
    counts: tuple[int, ...]
    no_data: int

    def class_of(self, value: float) -> int | None:
        """Index of the class `value` falls in; None when it is NaN/None."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return min(int(np.searchsorted(self.edges, value, side="left")), len(self.edges) - 1)

    def colour_of(self, value: float) -> str:
        index = self.class_of(value)
        return NO_DATA_COLOUR if index is None else self.colours[index]

    def legend_rows(self) -> list[tuple[str, str, int]]:
        """(colour, label, grids) from the end that needs attention down, then 无数据."""
        rows = list(zip(self.colours, self.labels, self.counts))
        rows = rows[::-1] if self.indicator.worse_when_high else rows
        if self.no_data:
            rows.append((NO_DATA_COLOUR, "无数据", self.no_data))
        return rows

    def format_value(self, value: float) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "无数据"
        if self.indicator.is_share:
            return f"{value:.1f}%"
        return f"{value:,.0f} {self.indicator.unit}"


def classify_indicator(values: pd.Series | np.ndarray, indicator: Indicator,
                       k: int = MAX_CLASSES) -> Classes:
    """Class the values of one indicator (one value per grid; NaN = no data).

    Parameters
    ----------
    values : Series or array
        The indicator per grid; shares and rates in percent.
    indicator : Indicator
        What the values are (:data:`gisgrid.analysis.indicators.INDICATORS`).
    k : int
        At most this many classes (fewer when there are fewer distinct values).

    Returns
    -------
    Classes

    Examples
    --------
    >>> from gisgrid.analysis.indicators import INDICATORS
    >>> classes = classify_indicator([0, 3, 4, 40, 41, 90, float("nan")],
    ...                              INDICATORS["employers"], k=3)
    >>> classes.labels, classes.counts, classes.no_data
    (('0–4 家', '5–41 家', '42–90 家'), (3, 2, 1), 1)
    >>> classes.colour_of(41) == classes.colours[1]
    True
    """
    array = np.asarray(values, dtype=float)
    known = array[~np.isnan(array)]
    no_data = int(np.isnan(array).sum())
    if known.size == 0:
        return Classes(indicator, (), (), (), (), no_data)
    distinct = np.unique(known)
    k = max(1, min(k, distinct.size))
    if k == 1:
        edges = np.array([math.ceil(distinct[-1])], dtype=float)
    else:
        bins = _fisher_jenks(known, k)
        # Round to whole units; the top edge up so the largest value stays inside.
        edges = np.round(bins[:-1])
        edges = np.unique(np.append(edges, math.ceil(known.max())))
    counts = np.bincount(
        np.minimum(np.searchsorted(edges, known, side="left"), len(edges) - 1),
        minlength=len(edges),
    )
    # Rounding may empty a class (two edges a unit apart): drop it.
    keep = counts > 0
    edges, counts = edges[keep], counts[keep]
    colours = _ramp(indicator, len(edges))
    lowest = math.floor(known.min())
    labels = tuple(_label(indicator, lowest if i == 0 else edges[i - 1], edge, first=i == 0)
                   for i, edge in enumerate(edges))
    return Classes(indicator, tuple(float(e) for e in edges), tuple(colours), labels,
                   tuple(int(c) for c in counts), no_data)


def _fisher_jenks(values: np.ndarray, k: int) -> np.ndarray:
    """Fisher–Jenks bins; on at most _JENKS_MAX values.

    mapclassify's pure-Python Fisher–Jenks (without numba, which we do not ship) takes
    0.13 s for 250 grids and 9 s for 2,000 — quadratic.  Above _JENKS_MAX the breaks are
    found on evenly spaced quantiles of the values, which keep the shape of the
    distribution (and are deterministic, unlike FisherJenksSampled's random sample).
    """
    sample = values
    if values.size > _JENKS_MAX:
        sample = np.quantile(values, np.linspace(0.0, 1.0, _JENKS_MAX))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Numba not installed")
        return mapclassify.FisherJenks(sample, k=k).bins


def _ramp(indicator: Indicator, n: int) -> list[str]:
    scheme = _SCHEMES.get(indicator.key, "YlOrRd")
    colours = color_brewer(scheme, max(n, 3))
    if n == 1:
        # Every grid the same: nothing stands out, so nothing is drawn as needing attention
        # (all 0 overdue must not be a red city).
        return [colours[0]]
    if n < 3:
        # ColorBrewer has no 2-class ramp: the ends of the 3-class one.
        colours = [colours[0], colours[-1]]
    if not indicator.worse_when_high:
        colours = colours[::-1]
    return list(colours)


def _label(indicator: Indicator, low: float, high: float, *, first: bool) -> str:
    if indicator.is_share:
        return f"{low:.0f}%–{high:.0f}%"
    # Counts are whole: a class after edge e starts at e + 1.
    start = int(low) if first else int(low) + 1
    return f"{start:,}–{int(high):,} {indicator.unit}" if start != int(high) else f"{int(high):,} {indicator.unit}"
