"""The panel's review table: the slices with the largest estimated error first (frame, slice, structure, the slice's
estimated Dice), one place per row."""

from __future__ import annotations

import qt
from slicer.i18n import tr as _

COLUMNS = ("frame", "slice", "structure", "estimated Dice", "status")


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
            dice = item.get("estimated_dice")  # None for a segmentation without class probabilities
            shown = _("n/a") if dice is None else f"{dice:.2f}"
            cells = (str(item["frame"]), str(item["slice"]), item["structure"], shown, "")
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
