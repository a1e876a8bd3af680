"""The named cells of a scheme's R x F grid: the standard map every new scheme starts with, and
the check that a scheme's cells cover the 25 squares exactly once.

The standard map (R across the rows, F across the columns; 5 is the best):

| R \\ F | 1              | 2              | 3                   | 4         | 5           |
|-------|----------------|----------------|---------------------|-----------|-------------|
| 5     | new            | potential loyalists | potential loyalists | champions | champions |
| 4     | promising      | potential loyalists | potential loyalists | loyal     | loyal       |
| 3     | about to sleep | about to sleep | need attention      | loyal     | loyal       |
| 2     | hibernating    | hibernating    | at risk             | at risk   | can't lose  |
| 1     | lost           | lost           | at risk             | at risk   | can't lose  |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from loyalty.models.rfm import SCALE, RfmCell, RfmScheme


@dataclass(frozen=True)
class CellSpec:
    code: str
    name: str | Promise  # stored in the language active when the scheme is made
    r: tuple[int, int]
    f: tuple[int, int]


STANDARD_MAP: tuple[CellSpec, ...] = (
    CellSpec("champions", _("Champions"), (5, 5), (4, 5)),
    CellSpec("loyal", _("Loyal"), (3, 4), (4, 5)),
    CellSpec("potential_loyalists", _("Potential loyalists"), (4, 5), (2, 3)),
    CellSpec("new", _("New customers"), (5, 5), (1, 1)),
    CellSpec("promising", _("Promising"), (4, 4), (1, 1)),
    CellSpec("need_attention", _("Need attention"), (3, 3), (3, 3)),
    CellSpec("about_to_sleep", _("About to sleep"), (3, 3), (1, 2)),
    CellSpec("at_risk", _("At risk"), (1, 2), (3, 4)),
    CellSpec("cant_lose", _("Can't lose them"), (1, 2), (5, 5)),
    CellSpec("hibernating", _("Hibernating"), (2, 2), (1, 2)),
    CellSpec("lost", _("Lost"), (1, 1), (1, 2)),
)

type Grid = dict[tuple[int, int], str]


def cells_grid(cells: Iterable) -> Grid:
    """(r, f) -> the code of the cell holding the square, for cells with ``code``, ``r_min``,
    ``r_max``, ``f_min``, ``f_max``. Raises ``ValidationError`` when a square is in no cell or
    in two, naming the squares."""
    grid: Grid = {}
    overlaps: list[str] = []
    for cell in cells:
        for r in range(cell.r_min, cell.r_max + 1):
            for f in range(cell.f_min, cell.f_max + 1):
                if (r, f) in grid:
                    overlaps.append(f"R{r} F{f}")
                grid[(r, f)] = cell.code
    errors = []
    if overlaps:
        errors.append(
            ValidationError(
                _("Squares in two cells: %(squares)s.") % {"squares": ", ".join(overlaps)},
                code="rfm_cells_overlap",
            )
        )
    missing = [
        f"R{r} F{f}" for r in range(1, SCALE + 1) for f in range(1, SCALE + 1) if (r, f) not in grid
    ]
    if missing:
        errors.append(
            ValidationError(
                _("Squares in no cell: %(squares)s.") % {"squares": ", ".join(missing)},
                code="rfm_cells_gap",
            )
        )
    if errors:
        raise ValidationError(errors)
    return grid


def standard_cells_create(scheme: RfmScheme) -> list[RfmCell]:
    """Give ``scheme`` the standard map (its names in the active language)."""
    return RfmCell.objects.bulk_create(
        RfmCell(
            scheme=scheme,
            code=spec.code,
            name=str(spec.name),
            r_min=spec.r[0],
            r_max=spec.r[1],
            f_min=spec.f[0],
            f_max=spec.f[1],
            position=position,
        )
        for position, spec in enumerate(STANDARD_MAP)
    )
