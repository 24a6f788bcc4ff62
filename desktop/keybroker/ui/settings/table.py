# SPDX-License-Identifier: Apache-2.0
"""Tables for the settings window: a configured `QTableView` over a `RecordTableModel`, columns that
share a narrow view fairly, and an empty state that explains instead of showing a bare grid."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from keybroker.ui.settings.table_model import RECORD_ROLE, Column, RecordTableModel

__all__ = [
    "HINT_COLOR",
    "RECORD_ROLE",
    "Column",
    "CompactTable",
    "EmptyState",
    "RecordTableModel",
    "TableArea",
    "make_table_view",
    "select_key",
    "selected_record",
]

#: Grey for explanations (placeholder texts, empty states).
HINT_COLOR = QColor("#6f6f6f")
#: The narrowest an empty state gets (its text wraps to fit).
MIN_EMPTY_WIDTH = 160


def make_table_view(model: RecordTableModel[Any], parent: QWidget | None = None) -> QTableView:
    """A read-only, row-selecting, sortable table with eliding cells and sized columns."""
    view = QTableView(parent)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSortingEnabled(True)
    view.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # Qt's default indicator would sort descending
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideRight)
    view.setCornerButtonEnabled(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 12)
    view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    header = view.horizontalHeader()
    header.setHighlightSections(False)
    header.setSectionsMovable(False)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(False)
    header.setMinimumSectionSize(40)
    stretch: int | None = None
    for i, column in enumerate(model.columns):
        if column.chars is None:
            stretch = i
            header.setSectionResizeMode(i, QHeaderView.ResizeMode.Stretch)
    if stretch is None:
        header.setStretchLastSection(True)
    fitter = _ColumnFitter(view, [c.chars for c in model.columns])
    view.viewport().installEventFilter(fitter)
    fitter.fit()
    return view


class _ColumnFitter(QObject):
    """Sizes columns from their widths in characters; in a narrow view every column gives up a share,
    so the flexible column never shrinks to nothing while the others keep their full width."""

    #: The width a flexible column would like, in characters.
    FLEXIBLE_CHARS = 24

    def __init__(self, view: QTableView, chars: list[int | None]) -> None:
        super().__init__(view)
        self._view = view
        self._chars = chars

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.fit()
        return False

    def fit(self) -> None:
        char = self._view.fontMetrics().averageCharWidth()
        wanted: list[int] = [(c if c is not None else self.FLEXIBLE_CHARS) * char + 24 for c in self._chars]
        total = sum(wanted)
        available = self._view.viewport().width()
        factor = min(1.0, available / total) if available > 0 and total > 0 else 1.0
        header = self._view.horizontalHeader()
        for i, (chars, width) in enumerate(zip(self._chars, wanted, strict=True)):
            if chars is not None and header.sectionResizeMode(i) != QHeaderView.ResizeMode.Stretch:
                self._view.setColumnWidth(i, max(header.minimumSectionSize(), int(width * factor)))


def selected_record(view: QTableView) -> Any | None:
    """The record of the selected row, or None."""
    model = view.model()
    rows = view.selectionModel().selectedRows() if view.selectionModel() else []
    if not rows or not isinstance(model, RecordTableModel):
        return None
    return model.record(rows[0].row())


def select_key(view: QTableView, key: str | None) -> bool:
    """Select the row whose record has `key`; False when there is none."""
    model = view.model()
    if key is None or not isinstance(model, RecordTableModel):
        return False
    row = model.row_of(key)
    if row is None:
        return False
    view.selectionModel().setCurrentIndex(
        model.index(row, 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )
    view.scrollTo(model.index(row, 0))
    return True


class EmptyState(QWidget):
    """A friendly explanation in place of an empty table."""

    def __init__(self, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        self.title = QLabel(title)
        self.title.setObjectName("emptyStateTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.body = QLabel(text)
        self.body.setObjectName("emptyStateText")
        self.body.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.body.setWordWrap(True)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        palette = self.body.palette()
        for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text):
            palette.setColor(role, HINT_COLOR)
        self.body.setPalette(palette)
        self.body.setMinimumWidth(1)
        layout.addWidget(self.title)
        layout.addSpacing(6)
        layout.addWidget(self.body, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(3)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)

    def minimumSizeHint(self) -> QSize:
        """Narrow: the text re-wraps at any width, so a pane split beside it keeps its share (the
        label's fixed width would otherwise become the minimum of the page and of its stack)."""
        return QSize(MIN_EMPTY_WIDTH, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        # A wrapping label in a box layout gets its width from its size hint and clips its second
        # line; a fixed size (at most 560 px wide, as high as the text needs there) does not.
        width = max(MIN_EMPTY_WIDTH - 40, min(560, event.size().width() - 40))
        self.body.setFixedSize(width, self.body.heightForWidth(width))
        super().resizeEvent(event)

    def set_text(self, title: str, text: str) -> None:
        """Change what the empty state says (e.g. "no events match these filters")."""
        self.title.setText(title)
        self.body.setText(text)
        width = self.body.width()
        self.body.setFixedHeight(self.body.heightForWidth(width))


class TableArea(QStackedWidget):
    """The table, or its empty state when the model has no rows."""

    #: Emitted when the shown page changes (True: the table; False: the empty state).
    table_shown = Signal(bool)

    def __init__(self, view: QTableView, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.empty = EmptyState(title, text)
        self.addWidget(view)
        self.addWidget(self.empty)
        model = view.model()
        for signal in (model.modelReset, model.rowsInserted, model.rowsRemoved, model.layoutChanged):
            signal.connect(self._update)
        self._update()

    @property
    def showing_placeholder(self) -> bool:
        """True when the empty state is on screen instead of the table."""
        return self.currentWidget() is self.empty

    def _update(self, *_args: object) -> None:
        has_rows = self.view.model().rowCount() > 0
        target = self.view if has_rows else self.empty
        if self.currentWidget() is not target:
            self.setCurrentWidget(target)
            self.table_shown.emit(has_rows)


class CompactTable(QWidget):
    """A small table sized to its rows (up to `max_rows`), or one grey line when it has none.

    With `wrap`, long cells wrap onto more lines (rows grow) instead of being cut with "…": for
    status sentences that must be read whole in a narrow pane.
    """

    def __init__(
        self,
        view: QTableView,
        empty_text: str,
        *,
        max_rows: int = 8,
        wrap: bool = False,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.view = view
        self.max_rows = max_rows
        if wrap:
            view.setWordWrap(True)
            view.setTextElideMode(Qt.TextElideMode.ElideNone)
            rows = view.verticalHeader()
            rows.setMinimumSectionSize(rows.defaultSectionSize())  # one line keeps its padding
            rows.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            rows.sectionResized.connect(self._update)
            view.horizontalHeader().sectionResized.connect(lambda *_a: view.resizeRowsToContents())
        self.empty = QLabel(empty_text)
        self.empty.setWordWrap(True)
        palette = self.empty.palette()
        palette.setColor(QPalette.ColorRole.WindowText, HINT_COLOR)
        self.empty.setPalette(palette)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(view)
        layout.addWidget(self.empty)
        model = view.model()
        for signal in (model.modelReset, model.rowsInserted, model.rowsRemoved):
            signal.connect(self._update)
        self._update()

    @property
    def showing_placeholder(self) -> bool:
        """True when the grey line shows instead of the table."""
        return self.view.isHidden()

    def _update(self, *_args: object) -> None:
        rows = self.view.model().rowCount()
        self.view.setVisible(rows > 0)
        self.empty.setVisible(rows == 0)
        shown = max(1, min(rows, self.max_rows))
        frame = self.view.frameWidth() * 2
        header = self.view.verticalHeader()
        heights = [header.sectionSize(i) for i in range(shown)] if rows else []
        default = header.defaultSectionSize()
        body = sum(h if h > 0 else default for h in heights) or default
        height = self.view.horizontalHeader().sizeHint().height() + body
        self.view.setFixedHeight(height + frame + 2)
