"""Deleted or duplicated graded cells, repaired before the notebook runs.

* **Deleted.** nbgrader's own ``OverwriteCells.add_missing_cells`` fails on this notebook: it places
  a missing cell after the previous *graded or solution* cell and crashes when that one is a locked
  check cell. This subclass appends each missing graded cell (the gradebook's copy) at the end of
  the notebook instead: every exercise is defined by then, and the cell reports on it as it would
  have in place.
* **Duplicated.** ``DeduplicateIds`` keeps the last copy of a grade id and empties the nbgrader
  metadata of the others, which ``CheckCellMetadata`` then rejects as an old format, failing the
  whole submission. The emptied copies become plain cells here.
"""

from nbgrader.preprocessors import OverwriteCells
from traitlets import Bool


class RestoreGradedCells(OverwriteCells):
    """OverwriteCells that also puts back deleted graded cells (at the end of the notebook)."""

    add_missing_cells = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", None) == {}:
                del cell.metadata["nbgrader"]  # a copy whose grade id DeduplicateIds removed
        return super().preprocess(nb, resources)

    def add_missing_grade_cells(self, nb, resources):
        source = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        present = {cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells}
        solutions = {cell.name for cell in source.solution_cells}
        for grade_cell in source.grade_cells:
            if grade_cell.name not in present:
                self.log.warning("Graded cell %s is missing: adding it back at the end", grade_cell.name)
                source_cell = self.gradebook.find_source_cell(grade_cell.name, self.notebook_id, self.assignment_id)
                nb.cells.append(
                    self.missing_cell_transform(
                        source_cell, grade_cell.max_score, is_solution=grade_cell.name in solutions
                    )
                )
        return nb, resources

    def add_missing_task_cells(self, nb, resources):
        return nb, resources  # the assignment has no task cells
