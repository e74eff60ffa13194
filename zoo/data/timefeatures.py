"""The "timeF" calendar encoding of Informer / Time-Series-Library (``embed="timeF"``).

Each calendar field is scaled to [-0.5, 0.5]; which fields are used depends on the sampling frequency
(the GluonTS ``time_features_from_frequency_str`` table that Informer2020 and TSLib both adopt):

==========  ==================================================================
frequency   fields
==========  ==================================================================
second      second/59, minute/59, hour/23, weekday/6, (day-1)/30, (yday-1)/365
minute      minute/59, hour/23, weekday/6, (day-1)/30, (yday-1)/365
hour        hour/23, weekday/6, (day-1)/30, (yday-1)/365
day, bday   weekday/6, (day-1)/30, (yday-1)/365
week        (day-1)/30, (isoweek-1)/52
month       (month-1)/11
year        none
==========  ==================================================================
(each minus 0.5). Unlike TSLib, whose scripts pass ``--freq h`` for every custom CSV, the frequency here
is the file's own (e.g. 10-minute weather gets minute fields), as DESIGN.md section 4 asks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

FieldFn = Callable[[pd.DatetimeIndex], np.ndarray]

_FIELDS: dict[str, FieldFn] = {
    "second_of_minute": lambda d: d.second.to_numpy() / 59.0 - 0.5,
    "minute_of_hour": lambda d: d.minute.to_numpy() / 59.0 - 0.5,
    "hour_of_day": lambda d: d.hour.to_numpy() / 23.0 - 0.5,
    "day_of_week": lambda d: d.day_of_week.to_numpy() / 6.0 - 0.5,
    "day_of_month": lambda d: (d.day.to_numpy() - 1) / 30.0 - 0.5,
    "day_of_year": lambda d: (d.day_of_year.to_numpy() - 1) / 365.0 - 0.5,
    "month_of_year": lambda d: (d.month.to_numpy() - 1) / 11.0 - 0.5,
    "week_of_year": lambda d: (d.isocalendar().week.to_numpy().astype(np.int64) - 1) / 52.0 - 0.5,
}

_DAILY = ["day_of_week", "day_of_month", "day_of_year"]
_BY_RESOLUTION: dict[str, list[str]] = {
    "second": ["second_of_minute", "minute_of_hour", "hour_of_day", *_DAILY],
    "minute": ["minute_of_hour", "hour_of_day", *_DAILY],
    "hour": ["hour_of_day", *_DAILY],
    "day": list(_DAILY),
    "week": ["day_of_month", "week_of_year"],
    "month": ["month_of_year"],
    "year": [],
}
_OFFSET_RESOLUTION = {
    "Second": "second",
    "Minute": "minute",
    "Hour": "hour",
    "Day": "day",
    "BusinessDay": "day",
    "Week": "week",
    "MonthEnd": "month",
    "MonthBegin": "month",
    "QuarterEnd": "month",
    "QuarterBegin": "month",
    "YearEnd": "year",
    "YearBegin": "year",
}


def frequency_resolution(freq: str) -> str:
    """Map a pandas frequency string ("h", "15min", "D", "W", ...) to its timeF resolution name."""
    try:
        offset = to_offset(freq)
    except ValueError as err:
        raise ValueError(
            f"unknown frequency {freq!r}: use a pandas offset alias such as 'h', '15min', 'D'"
        ) from err
    name = type(offset).__name__
    if name not in _OFFSET_RESOLUTION:
        raise ValueError(
            f"frequency {freq!r} ({name}) has no timeF encoding; known: {sorted(_OFFSET_RESOLUTION)}"
        )
    return _OFFSET_RESOLUTION[name]


def time_feature_names(freq: str) -> list[str]:
    """Names of the timeF fields used at ``freq``, in column order."""
    return list(_BY_RESOLUTION[frequency_resolution(freq)])


def time_features(dates: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """timeF features of ``dates``: array (N, F) float32, each column in [-0.5, 0.5]."""
    names = time_feature_names(freq)
    if not names:
        return np.zeros((len(dates), 0), dtype=np.float32)
    return np.stack([_FIELDS[n](dates) for n in names], axis=1).astype(np.float32)
