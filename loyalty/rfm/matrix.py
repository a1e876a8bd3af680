"""What the admin's RFM page shows of a scheme, read only from the per-run aggregates (the last
runs, the last run's 25 squares and its movement, the cells): four small queries whatever the number of
customers, never a scan of the scores."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from loyalty.models.rfm import SCALE, RfmCell, RfmRun, RfmScheme

RUNS_SHOWN = 10
NOT_SCORED_BEFORE = _("not scored before")
NO_LONGER_SCORED = _("no longer scored")


@dataclass
class Square:
    r: int
    f: int
    cell: str
    name: str
    customers: int = 0
    money: Decimal = Decimal("0.00")
    share: Decimal = Decimal("0")  # % of the customers scored
    heat: Decimal = Decimal("0")  # 0..1, the square's count over the fullest square's


@dataclass
class CellTotal:
    code: str
    name: str
    ranges: str
    customers: int = 0
    money: Decimal = Decimal("0.00")
    share: Decimal = Decimal("0")
    average: Decimal | None = None  # money per customer


@dataclass
class Matrix:
    scheme: RfmScheme
    runs: list[RfmRun]
    rows: list[list[Square]] = field(default_factory=list)  # R from 5 down to 1, F 1..5
    cells: list[CellTotal] = field(default_factory=list)
    move_heads: list[tuple[str, str]] = field(default_factory=list)  # (code, name) of "to"
    # (from name, [(count, stayed)] by "to", the row's sum)
    moves: list[tuple[str, list[tuple[int, bool]], int]] = field(default_factory=list)
    moved: int = 0

    @property
    def latest(self) -> RfmRun | None:
        return self.runs[0] if self.runs else None

    @property
    def previous(self) -> RfmRun | None:
        return self.runs[1] if len(self.runs) > 1 else None


def _share(part: int, whole: int) -> Decimal:
    if not whole:
        return Decimal("0")
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.1"))


def rfm_matrix(scheme: RfmScheme) -> Matrix:
    """The scheme's grid, named-cell totals and movement as of its last run, and its runs."""
    runs = list(RfmRun.objects.filter(scheme=scheme).order_by("-as_of", "-pk")[:RUNS_SHOWN])
    cells = list(RfmCell.objects.filter(scheme=scheme).order_by("position", "pk"))
    names = {cell.code: cell.name for cell in cells}
    matrix = Matrix(scheme=scheme, runs=runs)
    grid = {(r, f): "" for r in range(1, SCALE + 1) for f in range(1, SCALE + 1)}
    for cell in cells:
        for r in range(cell.r_min, cell.r_max + 1):
            for f in range(cell.f_min, cell.f_max + 1):
                grid[(r, f)] = cell.code
    squares = {
        key: Square(r=key[0], f=key[1], cell=code, name=names.get(code, code))
        for key, code in grid.items()
    }
    latest = matrix.latest
    totals = {
        cell.code: CellTotal(
            cell.code, cell.name, f"R {cell.r_min}–{cell.r_max}, F {cell.f_min}–{cell.f_max}"
        )
        for cell in cells
    }
    if latest is not None:
        for stat in latest.stats.all():
            square = squares[(stat.r, stat.f)]
            # the cell the square was in at the run (the map may have changed since)
            square.cell, square.name = stat.cell, names.get(stat.cell, stat.cell)
            square.customers, square.money = stat.customers, stat.money
            total = totals.setdefault(stat.cell, CellTotal(stat.cell, stat.cell, ""))
            total.customers += stat.customers
            total.money += stat.money
        fullest = max((square.customers for square in squares.values()), default=0)
        for square in squares.values():
            square.share = _share(square.customers, latest.size)
            if fullest:
                square.heat = (Decimal(square.customers) / fullest).quantize(Decimal("0.01"))
        for total in totals.values():
            total.share = _share(total.customers, latest.size)
            if total.customers:
                total.average = (total.money / total.customers).quantize(Decimal("0.01"))
        _moves(matrix, latest, names, cells)
    matrix.rows = [[squares[(r, f)] for f in range(1, SCALE + 1)] for r in range(SCALE, 0, -1)]
    matrix.cells = list(totals.values())
    return matrix


def _moves(matrix: Matrix, run: RfmRun, names: dict, cells: list[RfmCell]) -> None:
    """The cross-table from cell (rows) to cell (columns) of the run."""
    counts: dict[tuple[str, str], int] = {}
    for move in run.moves.all():
        counts[(move.from_cell, move.to_cell)] = move.customers
        if move.from_cell != move.to_cell:
            matrix.moved += move.customers
    order = [cell.code for cell in cells]
    seen = {code for pair in counts for code in pair if code}
    order += sorted(seen - set(order))
    froms = [code for code in order if any(key[0] == code for key in counts)]
    if any(key[0] == "" for key in counts):
        froms.append("")
    tos = [code for code in order if any(key[1] == code for key in counts)]
    if any(key[1] == "" for key in counts):
        tos.append("")
    matrix.move_heads = [(code, names.get(code, code) or str(NO_LONGER_SCORED)) for code in tos]
    for source in froms:
        row = [(counts.get((source, target), 0), source == target) for target in tos]
        label = names.get(source, source) or str(NOT_SCORED_BEFORE)
        matrix.moves.append((label, row, sum(count for count, _stayed in row)))
