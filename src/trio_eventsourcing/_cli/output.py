"""What the command line prints: aligned text tables, and JSON Lines for ``--json``.

Written by hand: a table is a few lines of padding, and the package keeps its runtime
dependencies to trio and typing-extensions. Tables stream: the widths of the columns are
set by the first batch of rows, so ``log --follow`` can print rows as they come, and a
later, wider cell simply pushes the rest of its row to the right. JSON Lines are one
compact JSON object per line, ASCII-only so that no terminal encoding can choke on them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TextIO

from typing_extensions import final

JsonValue = object
"""What :func:`json.dumps` accepts; a value of the stored JSON is passed through as is."""

_ELLIPSIS = "..."
_GAP = "  "


@final
@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table: its header, its alignment, and the widest a cell may be."""

    header: str
    align: Literal["<", ">"] = "<"
    max_width: int | None = None
    """Longer cells are cut and end with ``...``; ``--json`` shows them whole."""


@final
class Table:
    """Rows written as aligned columns under a header, batch by batch.

    Example::

        table = Table(sys.stdout, [Column("id"), Column("events", ">")])
        table.write([["acc-1", "3"], ["acc-2", "12"]])
        table.finish("no aggregates")
    """

    __slots__ = ("_columns", "_out", "_widths")

    def __init__(self, out: TextIO, columns: Sequence[Column]) -> None:
        self._out = out
        self._columns = tuple(columns)
        self._widths: list[int] | None = None

    def write(self, rows: Sequence[Sequence[str]]) -> None:
        """Print ``rows`` (the header first, if this is the first batch)."""
        if not rows:
            return
        cut = [
            [_cut(cell, column.max_width) for cell, column in zip(row, self._columns, strict=True)]
            for row in rows
        ]
        if self._widths is None:
            self._widths = [
                max([len(column.header), *(len(row[index]) for row in cut)])
                for index, column in enumerate(self._columns)
            ]
            self._line([column.header for column in self._columns])
            self._line(["-" * width for width in self._widths])
        for row in cut:
            self._line(row)
        self._out.flush()

    def finish(self, empty: str) -> None:
        """End the table; if it had no rows, print ``empty`` instead of it."""
        if self._widths is None:
            print(f"({empty})", file=self._out)
        self._out.flush()

    def _line(self, cells: Sequence[str]) -> None:
        assert self._widths is not None
        parts = []
        last = len(cells) - 1
        for index, (cell, column, width) in enumerate(
            zip(cells, self._columns, self._widths, strict=True)
        ):
            # A header is aligned as its cells are, so it sits over numbers too. The last
            # column is not padded on the right: no trailing blanks.
            align = column.align
            parts.append(cell if index == last and align == "<" else f"{cell:{align}{width}}")
        print(_GAP.join(parts), file=self._out)


def key_values(out: TextIO, pairs: Sequence[tuple[str, str]]) -> None:
    """Print ``pairs`` as two aligned columns without a header (a summary, a record)."""
    width = max((len(key) for key, _ in pairs), default=0)
    for key, value in pairs:
        print(f"{key:<{width}}{_GAP}{value}".rstrip(), file=out)
    out.flush()


def json_line(out: TextIO, record: Mapping[str, JsonValue]) -> None:
    """Print ``record`` as one line of JSON."""
    print(json.dumps(record, separators=(",", ":"), default=str), file=out)


def stored_json(text: str) -> JsonValue:
    """A JSON text read from the store as a value for ``--json`` (kept as text if invalid).

    A damaged payload is still shown, as the string it is, rather than failing the command:
    an operator inspecting a store is often looking for exactly that row.
    """
    try:
        value: JsonValue = json.loads(text)
    except ValueError:
        return text
    return value


def compact_json(text: str) -> str:
    """A JSON text read from the store, re-printed compactly for a table cell."""
    try:
        return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return text


def _cut(cell: str, max_width: int | None) -> str:
    # Control characters would break the row (a newline in a payload), so show them escaped.
    if not cell.isprintable():
        cell = cell.encode("unicode_escape").decode("ascii")
    if max_width is None or len(cell) <= max_width:
        return cell
    return cell[: max_width - len(_ELLIPSIS)] + _ELLIPSIS
