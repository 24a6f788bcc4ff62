# SPDX-License-Identifier: Apache-2.0
"""A read-only table model over records, described column by column, sortable by any column.

Cells show text from agent cards (names, descriptions, keys): every cell goes through `one_line` (control,
bidi and zero-width characters replaced, length capped), and tooltips, which Qt renders as rich text
when they look like HTML, are escaped and handed over as rich text so an agent cannot style or link.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontDatabase, QIcon

from keybroker.core.safe_text import one_line

T = TypeVar("T")
Index = QModelIndex | QPersistentModelIndex

#: Data role holding the row's record (for tests and callers that want the object behind a cell).
RECORD_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class Column(Generic[T]):
    """One column: its title and how a record reads in it."""

    title: str
    text: Callable[[T], str]
    #: What sorting compares; the text when None. Must give comparable values within the column.
    sort_key: Callable[[T], Any] | None = None
    tooltip: Callable[[T], str | None] | None = None
    #: Initial width in characters of the average glyph; None lets the column take the rest.
    chars: int | None = None
    align_right: bool = False
    monospace: bool = False
    foreground: Callable[[T], QColor | None] | None = None
    icon: Callable[[T], QIcon | None] | None = None
    italic: Callable[[T], bool] | None = None


#: The longest text a cell shows (a card may name itself in 100,000 characters).
CELL_LIMIT = 300


def plain_tooltip(text: str | None, limit: int = 2000) -> str | None:
    """`text` as a tooltip that is always plain: escaped, line breaks kept, unsafe characters replaced."""
    if not text:
        return None
    lines = [html.escape(one_line(line, limit)) for line in text[:limit].splitlines()]
    return "<qt>" + "<br>".join(lines) + "</qt>"


class RecordTableModel(QAbstractTableModel, Generic[T]):
    """Rows are records; columns say how to show them. Read-only, sortable by any column."""

    def __init__(self, columns: Sequence[Column[T]], key: Callable[[T], str], parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self._key = key
        self._rows: list[T] = []
        self._sort: tuple[int, Qt.SortOrder] | None = None

    # content ------------------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[T]) -> None:
        """Replace every row (the current sort order is kept)."""
        self.beginResetModel()
        self._rows = list(rows)
        if self._sort is not None:
            self._sort_rows(*self._sort)
        self.endResetModel()

    def rows(self) -> list[T]:
        """The records in display order."""
        return list(self._rows)

    def record(self, row: int) -> T:
        """The record shown in `row`."""
        return self._rows[row]

    def key_of(self, record: T) -> str:
        """The record's stable identity (for keeping the selection across refreshes)."""
        return self._key(record)

    def row_of(self, key: str) -> int | None:
        """The row showing the record with `key`."""
        for i, r in enumerate(self._rows):
            if self._key(r) == key:
                return i
        return None

    def refresh_column(self, column: int) -> None:
        """Re-read one column of every row (a countdown) without resetting the view."""
        if self._rows:
            self.dataChanged.emit(
                self.index(0, column),
                self.index(len(self._rows) - 1, column),
                [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole],
            )

    # QAbstractTableModel ------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            column = self.columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return column.title
            if role == Qt.ItemDataRole.TextAlignmentRole:
                horizontal = Qt.AlignmentFlag.AlignRight if column.align_right else Qt.AlignmentFlag.AlignLeft
                return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        record = self._rows[index.row()]
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return one_line(column.text(record), CELL_LIMIT, replacement=" ")
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = column.tooltip(record) if column.tooltip else None
            return plain_tooltip(tip if tip is not None else column.text(record))
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column.align_right else Qt.AlignmentFlag.AlignLeft
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and column.foreground:
            color = column.foreground(record)
            return QBrush(color) if color is not None else None
        if role == Qt.ItemDataRole.DecorationRole and column.icon:
            return column.icon(record)
        if role == Qt.ItemDataRole.FontRole and (
            column.monospace or (column.italic and column.italic(record))
        ):
            font = (
                QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont) if column.monospace else QFont()
            )
            if column.italic and column.italic(record):
                font.setItalic(True)
            return font
        if role == RECORD_ROLE:
            return record
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns):
            return
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        keys = [self._key(self._rows[i.row()]) for i in before]
        self._sort_rows(column, order)
        after = [self.index(self.row_of(k) or 0, i.column()) for k, i in zip(keys, before, strict=True)]
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()

    def _sort_rows(self, column: int, order: Qt.SortOrder) -> None:
        col = self.columns[column]
        getter = col.sort_key or col.text
        self._rows.sort(key=getter, reverse=order == Qt.SortOrder.DescendingOrder)
