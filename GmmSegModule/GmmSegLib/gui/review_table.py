"""The panel's review table: the most uncertain places first (frame, slice, structure, score), one per row."""

from __future__ import annotations

import qt
from slicer.i18n import tr as _

COLUMNS = ("frame", "slice", "structure", "score", "status")


class ReviewTable:
    """Fills the .ui's ``reviewTable`` (a QTableWidget) from review items and tells which one is selected."""

    def __init__(self, table):
        self.table = table
        self.items: list[dict] = []

    def show(self, items: list[dict]) -> None:
        self.items = items
        self.table.clearContents()
        self.table.setRowCount(len(items))
        for row, item in enumerate(items):
            score = _("n/a") if item["slice_score"] is None else f"{item['slice_score']:.2f}"  # no uncertainty maps
            cells = (str(item["frame"]), str(item["slice"]), item["structure"], score, "")
            for column, text in enumerate(cells):
                self.table.setItem(row, column, qt.QTableWidgetItem(text))

    def selected_rows(self) -> list[int]:
        return sorted({cell.row() for cell in self.table.selectedItems()})

    def selected_item(self) -> dict | None:
        """The first selected row's item, or None."""
        rows = self.selected_rows()
        return self.items[rows[0]] if rows else None

    def mark_selected_reviewed(self) -> None:
        for row in self.selected_rows():
            self.table.setItem(row, COLUMNS.index("status"), qt.QTableWidgetItem(_("reviewed")))
