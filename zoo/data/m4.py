"""The M4 competition data: per-frequency metadata, the wide ragged CSV reader, and panels.

M4 (Makridakis, Spiliotis, Assimakopoulos, "The M4 Competition: 100,000 time series and 61 forecasting
methods", IJF 2020) ships one training and one test file per frequency, from the M4-methods repository
(``Dataset/Train/<Freq>-train.csv``, ``Dataset/Test/<Freq>-test.csv``), plus the official benchmark
forecasts (``submission-Naive2``) that OWA divides by. N-BEATS (Oreshkin et al., ICLR 2020) trains one
model per frequency on these files; :mod:`zoo.data.panel` cuts its windows. Provenance, checksums and
what is missing are in ``../shared/data/m4/SOURCE.md``: here Hourly and Weekly are complete
train/test pairs, Yearly has only its test file (so it can be scored with Naive2, not trained).

File formats, as read by :func:`read_wide_csv`:

- train/test: a header ``"V1","V2",...``; each row is a series id (``"H1"``) then its values in time
  order, left-aligned, with empty cells after the last value (wide, ragged; every field quoted);
- Naive2: a header ``id,F1,...,F48``, CRLF line ends, one row per series id of every frequency, ``NA``
  in the cells beyond that frequency's horizon.

Parsed files are cached per path (keyed by modification time and size, so an edited file is re-read);
their arrays are read-only, since every ``setup`` of every data module shares them.
"""

from __future__ import annotations

import csv
import difflib
import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.data import sources
from zoo.data.panel import SeriesPanel
from zoo.data.table import DataValidationError

log = logging.getLogger(__name__)

NAIVE2_SOURCE = "M4-Naive2-HWY"
_MISSING = frozenset({"", "NA"})  # cells that end a ragged row (test/train files: "", Naive2: "NA")


@dataclass(frozen=True)
class M4Frequency:
    """One M4 frequency: the official horizon and MASE period, N-BEATS' history limit, its catalog files.

    ``history_limit`` is the paper's ``L_H`` in horizons (training cuts lie in the last ``L_H * P``
    points of a series): 10 for Hourly/Weekly/Daily, 1.5 for Yearly/Quarterly/Monthly. A source of
    None means that file is not in this project's data (see SOURCE.md).
    """

    name: str  # "Hourly"
    prefix: str  # series ids start with it: "H1", ...; also the Naive2 row filter
    horizon: int
    period: int
    history_limit: float
    train_source: str | None = None
    test_source: str | None = None

    @property
    def dataset(self) -> str:
        """The canonical ``TimeSeriesDataModule`` name, e.g. ``"M4-Hourly"``."""
        return f"M4-{self.name}"

    def check_horizon(self, pred_len: int) -> None:
        """M4 is scored at its official horizon only: a clear error for any other ``pred_len``."""
        if pred_len != self.horizon:
            raise ValueError(
                f"{self.dataset} is scored at its official horizon of {self.horizon} steps; "
                f"got pred_len={pred_len}. Use pred_len={self.horizon}."
            )


# fmt: off
M4_FREQUENCIES: dict[str, M4Frequency] = {f.name: f for f in (
    M4Frequency("Yearly", "Y", horizon=6, period=1, history_limit=1.5, test_source="M4-Yearly-test"),
    M4Frequency("Quarterly", "Q", horizon=8, period=4, history_limit=1.5),
    M4Frequency("Monthly", "M", horizon=18, period=12, history_limit=1.5),
    M4Frequency("Weekly", "W", horizon=13, period=1, history_limit=10.0,
                train_source="M4-Weekly-train", test_source="M4-Weekly-test"),
    M4Frequency("Daily", "D", horizon=14, period=1, history_limit=10.0),
    M4Frequency("Hourly", "H", horizon=48, period=24, history_limit=10.0,
                train_source="M4-Hourly-train", test_source="M4-Hourly-test"),
)}
# fmt: on
_NAIVE2_PREFIXES = frozenset("HWY")  # the rows kept in submission-Naive2-HWY.csv


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


def m4_frequency(name: str) -> M4Frequency:
    """Metadata for ``name``: "Hourly", "H", "M4-Hourly", "m4_hourly", ... (case and separators ignored)."""
    key = _key(name)
    key = key[2:] if key.startswith("m4") and len(key) > 2 else key
    for freq in M4_FREQUENCIES.values():
        if key in (freq.name.lower(), freq.prefix.lower()):
            return freq
    names = [f.dataset for f in M4_FREQUENCIES.values()]
    close = difflib.get_close_matches(f"m4{key}", [_key(n) for n in names], n=2, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(n) for n in names if _key(n) in close)}?" if close else ""
    raise KeyError(f"unknown M4 frequency {name!r}.{hint} Known: {', '.join(names)}")


def m4_dataset(name: str) -> M4Frequency | None:
    """The M4 frequency a data-module ``dataset`` name refers to, or None if it is not an M4 name.

    Any name that starts with "M4" is taken as one, so a near miss ("M4-Hourli", "M4-Hourly-train")
    is a KeyError with a suggestion rather than a search for a CSV file.
    """
    return m4_frequency(name) if _key(name).startswith("m4") else None


# ----------------------------------------------------------------------------- reading the files
@dataclass(frozen=True)
class WideSeries:
    """A parsed wide CSV: ``values[i]`` (n_i,) float64, read-only, is series ``ids[i]``; file order."""

    path: str
    ids: tuple[str, ...]
    values: tuple[np.ndarray, ...]
    columns: tuple[str, ...]  # the header, e.g. ("V1", "V2", ...): messages name columns by it

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> np.ndarray:
        """Values per series, (N,) int64."""
        return np.array([len(v) for v in self.values], dtype=np.int64)


def read_wide_csv(path: str | Path) -> WideSeries:
    """Parse an M4-style wide ragged CSV (module docstring), cached per path, modification time and size.

    Each row is ``id, v_1, ..., v_n`` followed by empty (or ``NA``) cells. A :class:`DataValidationError`
    naming the file, series id and column reports: a series with no values, a missing cell followed by
    values (a gap), a non-numeric or non-finite value, a duplicated id, more cells than the header has.
    Zero and negative values are accepted as they are.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data file")
    stat = path.stat()
    return _read_wide_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _read_wide_cached(path: str, mtime_ns: int, size: int) -> WideSeries:
    ids: list[str] = []
    values: list[np.ndarray] = []
    seen: set[str] = set()
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = tuple(c.strip() for c in next(reader, []))
        if not header:
            raise DataValidationError(f"{path}: the file is empty (no header line)")
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            line = reader.line_num
            sid = row[0].strip()
            if not sid:
                raise DataValidationError(f"{path}: line {line} has no series id in column {header[0]!r}")
            if sid in seen:
                raise DataValidationError(f"{path}: series {sid!r} appears twice (again at line {line})")
            if len(row) > len(header):
                raise DataValidationError(
                    f"{path}: series {sid!r} (line {line}) has {len(row)} cells, the header has {len(header)}"
                )
            seen.add(sid)
            ids.append(sid)
            values.append(_parse_row(path, sid, header, [c.strip() for c in row[1:]]))
    if not ids:
        raise DataValidationError(f"{path}: no series after the header")
    return WideSeries(path=path, ids=tuple(ids), values=tuple(values), columns=header)


def _parse_row(path: str, sid: str, header: tuple[str, ...], cells: list[str]) -> np.ndarray:
    n = len(cells)
    while n and cells[n - 1] in _MISSING:
        n -= 1
    if n == 0:
        raise DataValidationError(f"{path}: series {sid!r} is empty (no values after the id)")
    head = cells[:n]
    for j, cell in enumerate(head):
        if cell in _MISSING:
            what = repr(cell) if cell else "empty"
            raise DataValidationError(
                f"{path}: series {sid!r} has a gap: column {header[j + 1]!r} is {what} "
                f"but later columns hold values (up to {header[n]!r})"
            )
    try:
        arr = np.array(head, dtype=np.float64)
    except ValueError:
        j = next(j for j, c in enumerate(head) if not _is_float(c))
        raise DataValidationError(
            f"{path}: series {sid!r} has a non-numeric value {head[j]!r} in column {header[j + 1]!r}"
        ) from None
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        j = int(bad[0])
        raise DataValidationError(
            f"{path}: series {sid!r} has a non-finite value {head[j]!r} in column {header[j + 1]!r}"
        )
    arr.setflags(write=False)
    return arr


def _is_float(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_test_block(path: str | Path, horizon: int) -> tuple[tuple[str, ...], np.ndarray]:
    """An M4 test file as ``(ids, values (N, P))``; every row must hold exactly ``horizon`` values."""
    wide = read_wide_csv(path)
    _check_lengths(wide, horizon, "test row")
    return wide.ids, np.stack(wide.values)


def read_naive2(path: str | Path, frequency: str) -> dict[str, np.ndarray]:
    """The Naive2 forecasts of one frequency's series, ``{id: (P,) float64}`` in file order.

    ``path`` is the Naive2 submission file; rows are selected by id prefix (``H``, ``W``, ``Y``) and
    must hold exactly the frequency's horizon of values.
    """
    freq = m4_frequency(frequency)
    wide = read_wide_csv(path)
    pattern = re.compile(rf"{freq.prefix}\d+")
    keep = [i for i, sid in enumerate(wide.ids) if pattern.fullmatch(sid)]
    if not keep:
        raise DataValidationError(f"{wide.path}: no Naive2 rows for {freq.name} (ids {freq.prefix}1, ...)")
    subset = WideSeries(
        wide.path, tuple(wide.ids[i] for i in keep), tuple(wide.values[i] for i in keep), wide.columns
    )
    _check_lengths(subset, freq.horizon, f"{freq.name} Naive2 row")
    return dict(zip(subset.ids, subset.values, strict=True))


def _check_lengths(wide: WideSeries, horizon: int, what: str) -> None:
    wrong = np.flatnonzero(wide.lengths() != horizon)
    if wrong.size:
        i = int(wrong[0])
        more = f" ({wrong.size - 1} more rows too)" if wrong.size > 1 else ""
        raise DataValidationError(
            f"{wide.path}: {what} {wide.ids[i]!r} has {len(wide.values[i])} values, "
            f"the official horizon is {horizon}{more}"
        )


def _check_same_ids(train: WideSeries, test_ids: tuple[str, ...], test_path: str) -> None:
    if train.ids == test_ids:
        return
    only_train = sorted(set(train.ids) - set(test_ids))
    only_test = sorted(set(test_ids) - set(train.ids))
    if only_train or only_test:
        detail = f"only in train: {only_train[:5]}, only in test: {only_test[:5]}"
    else:
        i = next(i for i, (a, b) in enumerate(zip(train.ids, test_ids, strict=True)) if a != b)
        detail = f"same ids in a different order, first at row {i}: {train.ids[i]!r} vs {test_ids[i]!r}"
    raise DataValidationError(f"{train.path} and {test_path} list different series ({detail})")


# ----------------------------------------------------------------------------- panels
def load_m4(frequency: str, *, require_train: bool = False) -> SeriesPanel:
    """The M4 series of one frequency from the catalog files, as a :class:`~zoo.data.panel.SeriesPanel`.

    Fields: ``ids`` (N,), ``train`` N float64 histories (None for Yearly, whose training file is not
    in this data), ``test`` (N, P) the official test values, ``naive2`` (N, P) the official Naive2
    forecasts (None, with a logged warning, when the Naive2 file cannot be found), ``horizon`` P,
    ``period`` m. Files are resolved through the catalog (``ZOO_DATA_DIR`` -> cache -> download).

    Args:
        frequency: "Hourly", "Weekly", "Yearly" (or "H", "M4-Hourly", ...).
        require_train: raise a clear error when the frequency has no training file.
    """
    freq = m4_frequency(frequency)
    if freq.test_source is None:
        have = ", ".join(f.dataset for f in M4_FREQUENCIES.values() if f.test_source)
        raise ValueError(
            f"{freq.dataset}: its files are not in this project's data (only {have} are; "
            f"see ../shared/data/m4/SOURCE.md)"
        )
    if freq.train_source is None and require_train:
        raise ValueError(
            f"{freq.dataset} cannot be trained on: {freq.name}-train.csv is not in the stored M4-methods "
            f"snapshot (see ../shared/data/m4/SOURCE.md), only its test set and Naive2 forecasts are. "
            f"Train on {', '.join(f.dataset for f in M4_FREQUENCIES.values() if f.train_source)} instead."
        )
    naive2: Path | None = None
    if freq.prefix in _NAIVE2_PREFIXES:
        try:
            naive2 = sources.resolve(NAIVE2_SOURCE)
        except sources.DatasetNotFoundError as err:
            log.warning(
                "%s: Naive2 forecasts not found, so no 'naive2' and no OWA (%s)",
                freq.dataset,
                str(err).splitlines()[0],
            )
    train = sources.resolve(freq.train_source) if freq.train_source is not None else None
    return read_m4_panel(freq.name, sources.resolve(freq.test_source), train=train, naive2=naive2)


def read_m4_panel(
    frequency: str,
    test: str | Path,
    *,
    train: str | Path | None = None,
    naive2: str | Path | None = None,
) -> SeriesPanel:
    """A panel from M4-format files (any paths, e.g. a full M4 download the catalog does not hold).

    The test file fixes the series and their order; the training file must list the same ids in the
    same order, and the Naive2 file must hold a forecast for each of them. ``test`` is (N, P), P the
    frequency's official horizon; the panel's ``source`` (used in messages) is the training file.
    """
    freq = m4_frequency(frequency)
    ids, values = read_test_block(test, freq.horizon)
    histories: tuple[np.ndarray, ...] | None = None
    source = str(test)
    if train is not None:
        wide = read_wide_csv(train)
        _check_same_ids(wide, ids, str(test))
        histories, source = wide.values, wide.path
    forecasts = None
    if naive2 is not None:
        by_id = read_naive2(naive2, freq.name)
        missing = [sid for sid in ids if sid not in by_id]
        if missing:
            raise DataValidationError(
                f"{naive2}: no Naive2 forecast for series {missing[0]!r} "
                f"({len(missing)} of {len(ids)} {freq.name} series missing)"
            )
        forecasts = np.stack([by_id[sid] for sid in ids])
    return SeriesPanel(
        ids=ids,
        train=histories,
        test=values,
        naive2=forecasts,
        horizon=freq.horizon,
        period=freq.period,
        source=source,
    )
