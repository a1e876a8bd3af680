"""Computing a scheme's RFM scores set-wise in SQL, and the run's history.

Who is scored: the customers (neither anonymised nor merged into another) with at least one
purchase in the scheme's programme (a receipt in one of its currencies, as the tier review and
the favourite products count them) sold at or before the moment of the run. The purchases
that count, and their money, are those of the ``purchases`` segment condition
(``loyalty.segment_kinds``): receipts neither cancelled nor refunded in full, money paid in
money net of partial refunds.

- recency: whole days from the last purchase (however long ago) to the moment of the run;
- frequency: the purchases of the window (the last ``window_days`` days up to the moment, both
  ends included, as the condition's ``{"last_days": N}``);
- monetary: their money, rounded to the kopeck.

Scores run 1..5, 5 the best (the most recent, the most frequent, the most money):

- by **thresholds**: recency scores 5 up to the first bound of days, 4 up to the second...,
  1 beyond the fourth; frequency and money score 1 below the first bound, 2 from it, ..., 5
  from the fourth;
- by **quintiles**: over the customers who bought in the window (n of them), ranked from the
  worst value to the best, a customer scores ``1 + 5 * (rank - 1) / n`` (integer division)
  where rank is ``RANK()``: equal values share the rank of the first of them, so **equal
  values always score the same**, the lowest score their group reaches (a value held by most
  customers puts all of them in the bottom quintiles, and some scores may then be empty).

A customer who bought before the window but not in it scores 1 on frequency and money (and on
recency too, by quintiles; by thresholds recency keeps its own days): in the standard map, R1
F1 is "lost". Customers who never bought in the programme are not scored and are in no cell.

One run, in one transaction holding the scheme's row lock (runs of one scheme queue), on the
database alone (no customer id travels to Python):

1. the purchases are aggregated per customer into a temporary table (one pass over the
   receipts), then scored with window functions (``RANK() OVER``, ``COUNT(*) OVER``) into a
   second one, each customer's cell read from the grid of the scheme's cells;
2. ``INSERT ... SELECT``: the customers whose cell changed (first scored, or no longer scored)
   into ``RfmCellChange``; the counts from cell to cell (stays included) into ``RfmRunMove``;
3. the scheme's scores are replaced by the new ones;
4. the grid's count and money per square into ``RfmRunStat``, and the run's totals.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Max, Sum
from django.db.models.functions import Coalesce, Round
from django.utils import timezone

from crm.segments.params import Window
from loyalty.errors import RfmCellsInvalid
from loyalty.models import Receipt
from loyalty.models.rfm import (
    SCALE,
    RfmCell,
    RfmCellChange,
    RfmRun,
    RfmRunMove,
    RfmRunStat,
    RfmScheme,
    RfmScore,
)
from loyalty.rfm.cells import Grid, cells_grid
from loyalty.segment_kinds import COUNTED, ZERO_MONEY, receipt_net_to_pay

log = logging.getLogger(__name__)

BASE = "rfm_base"
SCORED = "rfm_scored"
HALF_KOPECK = Decimal("0.005")
MICROSECONDS_A_DAY = 86_400_000_000


def _days_since(now_mark: str, column: str) -> str:
    """SQL for the whole days from ``column`` to the moment ``now_mark`` (a placeholder)."""
    if connection.vendor == "postgresql":
        return f"CAST(FLOOR(EXTRACT(EPOCH FROM ({now_mark} - {column})) / 86400) AS integer)"
    # Django's own function on SQLite: exact microseconds between two stored moments
    return f"(django_timestamp_diff({now_mark}, {column}) / {MICROSECONDS_A_DAY})"


def _literal(value: Decimal) -> str:
    """A checked bound (a finite Decimal) written into the SQL: SQLite compares a column with
    a bound passed as text by the column's affinity only sometimes, a literal always."""
    assert value.is_finite()
    return format(value, "f")


def _score_sql(scheme: RfmScheme, dimension: str, value: str, rank: str) -> str:
    bounds = scheme.bounds(dimension)
    if bounds is None:  # quintiles of the customers who bought in the window
        return f"CASE WHEN d.bought = 0 THEN 1 ELSE 1 + ({SCALE} * ({rank} - 1)) / d.n END"
    if dimension == "recency":  # fewer days is better
        steps = " ".join(
            f"WHEN {value} <= {_literal(bound)} THEN {SCALE - i}" for i, bound in enumerate(bounds)
        )
        return f"CASE {steps} ELSE 1 END"
    tolerance = HALF_KOPECK if dimension == "monetary" else Decimal(0)
    steps = " ".join(
        f"WHEN {value} > {_literal(bound - tolerance)} THEN {i + 2}"
        if tolerance
        else f"WHEN {value} >= {_literal(bound)} THEN {i + 2}"
        for i, bound in reversed(list(enumerate(bounds)))
    )
    return f"CASE {steps} ELSE 1 END"


def _cell_sql(grid: Grid, r: str, f: str) -> tuple[str, list[str]]:
    """``CASE r * 10 + f WHEN 11 THEN 'lost' ...`` and its parameters."""
    whens = " ".join(f"WHEN {r_ * 10 + f_} THEN %s" for r_, f_ in sorted(grid))
    return f"CASE {r} * 10 + {f} {whens} END", [grid[key] for key in sorted(grid)]


def scheme_grid(scheme_id: int) -> Grid:
    """The scheme's grid; raises ``RfmCellsInvalid`` when its cells leave a gap or overlap."""
    from django.core.exceptions import ValidationError

    try:
        return cells_grid(RfmCell.objects.filter(scheme_id=scheme_id))
    except ValidationError as exc:
        raise RfmCellsInvalid(" ".join(exc.messages), scheme=scheme_id) from None


def _purchases_sql(scheme: RfmScheme, now: dt.datetime) -> tuple[str, tuple]:
    """Per customer of the programme: the last purchase, and the count and money of the
    window (one ``GROUP BY`` over the receipts)."""
    in_window = Window(last_days=scheme.window_days).q("sold_at", now)
    rows = (
        Receipt.objects.filter(
            currency__programme_id=scheme.programme_id,
            status__in=COUNTED,
            customer__isnull=False,
            customer__is_anonymised=False,
            customer__merged_into__isnull=True,
            sold_at__lte=now,
        )
        .order_by()
        .values("customer_id")
        .annotate(
            rfm_last=Max("sold_at"),
            rfm_frequency=Count("pk", filter=in_window),
            rfm_money=Round(Coalesce(Sum(receipt_net_to_pay(), filter=in_window), ZERO_MONEY), 2),
        )
        .values_list("customer_id", "rfm_last", "rfm_frequency", "rfm_money")
    )
    return rows.query.sql_with_params()


def _score(scheme: RfmScheme, grid: Grid, now: dt.datetime, cursor) -> None:
    """Fill the temporary tables: the purchases per customer, then their scores and cells."""
    moment = "CAST(%s AS timestamp with time zone)" if connection.vendor == "postgresql" else "%s"
    stamp = "timestamp with time zone" if connection.vendor == "postgresql" else "datetime"
    money = "numeric(18, 2)"
    for table in (BASE, SCORED):
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {BASE} (customer_id bigint PRIMARY KEY, last_at {stamp} NOT NULL,"
        f" frequency integer NOT NULL, monetary {money} NOT NULL)"
    )
    cursor.execute(
        f"CREATE TEMPORARY TABLE {SCORED} (customer_id bigint PRIMARY KEY,"
        f" last_at {stamp} NOT NULL, recency_days integer NOT NULL, frequency integer NOT NULL,"
        f" monetary {money} NOT NULL, r smallint NOT NULL, f smallint NOT NULL,"
        f" m smallint NOT NULL, cell varchar(32) NOT NULL)"
    )
    sql, params = _purchases_sql(scheme, now)
    cursor.execute(f"INSERT INTO {BASE} (customer_id, last_at, frequency, monetary) {sql}", params)
    bought = "CASE WHEN b.frequency > 0 THEN 1 ELSE 0 END"
    cell, cell_params = _cell_sql(grid, "s.r", "s.f")
    at = connection.ops.adapt_datetimefield_value(now)
    cursor.execute(
        f"""
        INSERT INTO {SCORED}
            (customer_id, last_at, recency_days, frequency, monetary, r, f, m, cell)
        SELECT s.customer_id, s.last_at, s.recency_days, s.frequency, s.monetary,
               s.r, s.f, s.m, {cell}
        FROM (
            SELECT d.customer_id, d.last_at, d.recency_days, d.frequency, d.monetary,
                   {_score_sql(scheme, "recency", "d.recency_days", "d.r_rank")} AS r,
                   {_score_sql(scheme, "frequency", "d.frequency", "d.f_rank")} AS f,
                   {_score_sql(scheme, "monetary", "d.monetary", "d.m_rank")} AS m
            FROM (
                SELECT b.*,
                       RANK() OVER (PARTITION BY b.bought ORDER BY b.recency_days DESC) AS r_rank,
                       RANK() OVER (PARTITION BY b.bought ORDER BY b.frequency) AS f_rank,
                       RANK() OVER (PARTITION BY b.bought ORDER BY b.monetary) AS m_rank,
                       COUNT(*) OVER (PARTITION BY b.bought) AS n
                FROM (
                    SELECT b.customer_id, b.last_at, b.frequency, b.monetary, {bought} AS bought,
                           {_days_since(moment, "b.last_at")} AS recency_days
                    FROM {BASE} b
                ) b
            ) d
        ) s
        """,
        [*cell_params, at],
    )


def _record(scheme: RfmScheme, run: RfmRun, now: dt.datetime, cursor) -> int:
    """Write the run's changes and moves, replace the scores, write the grid; return how many
    customers changed cell."""
    score = RfmScore._meta.db_table
    at = connection.ops.adapt_datetimefield_value(now)
    old = f"LEFT JOIN {score} o ON o.scheme_id = %s AND o.customer_id = n.customer_id"
    gone = f"NOT EXISTS (SELECT 1 FROM {SCORED} n WHERE n.customer_id = o.customer_id)"
    changes = RfmCellChange._meta.db_table
    cursor.execute(
        f"INSERT INTO {changes} (scheme_id, customer_id, run_id, from_cell, to_cell, at)"
        f" SELECT %s, n.customer_id, %s, COALESCE(o.cell, ''), n.cell, %s FROM {SCORED} n {old}"
        f" WHERE o.cell IS NULL OR o.cell <> n.cell",
        [scheme.pk, run.pk, at, scheme.pk],
    )
    changed = max(cursor.rowcount, 0)
    cursor.execute(
        f"INSERT INTO {changes} (scheme_id, customer_id, run_id, from_cell, to_cell, at)"
        f" SELECT %s, o.customer_id, %s, o.cell, '', %s FROM {score} o"
        f" WHERE o.scheme_id = %s AND {gone}",
        [scheme.pk, run.pk, at, scheme.pk],
    )
    changed += max(cursor.rowcount, 0)
    moves = RfmRunMove._meta.db_table
    cursor.execute(
        f"INSERT INTO {moves} (run_id, from_cell, to_cell, customers)"
        f" SELECT %s, COALESCE(o.cell, ''), n.cell, COUNT(*) FROM {SCORED} n {old}"
        f" GROUP BY COALESCE(o.cell, ''), n.cell",
        [run.pk, scheme.pk],
    )
    cursor.execute(
        f"INSERT INTO {moves} (run_id, from_cell, to_cell, customers)"
        f" SELECT %s, o.cell, '', COUNT(*) FROM {score} o WHERE o.scheme_id = %s AND {gone}"
        f" GROUP BY o.cell",
        [run.pk, scheme.pk],
    )
    cursor.execute(f"DELETE FROM {score} WHERE scheme_id = %s", [scheme.pk])
    cursor.execute(
        f"INSERT INTO {score} (scheme_id, customer_id, r, f, m, recency_days, frequency,"
        f" monetary, last_purchase_at, cell, computed_at)"
        f" SELECT %s, customer_id, r, f, m, recency_days, frequency, monetary, last_at, cell, %s"
        f" FROM {SCORED}",
        [scheme.pk, at],
    )
    cursor.execute(
        f"INSERT INTO {RfmRunStat._meta.db_table} (run_id, r, f, cell, customers, money)"
        f" SELECT %s, r, f, cell, COUNT(*), ROUND(SUM(monetary), 2) FROM {SCORED}"
        f" GROUP BY r, f, cell",
        [run.pk],
    )
    return changed


def rfm_recompute(
    scheme_id: int,
    *,
    now: dt.datetime | None = None,
    trigger: str = RfmRun.Trigger.STAFF,
    user=None,
) -> RfmRun:
    """Score the customers of the scheme as of ``now``, replace its scores and record the run.

    Raises ``RfmCellsInvalid`` (nothing written) when the scheme's cells do not cover the
    grid exactly once, ``RfmScheme.DoesNotExist`` for a scheme deleted meanwhile. Safe to run
    twice and concurrently: the scheme's row lock makes runs of one scheme queue, and a run
    that finds every cell as it was records no change (its moves are all stays)."""
    now = now or timezone.now()
    started = time.monotonic()
    with transaction.atomic():
        scheme = RfmScheme.objects.select_for_update().get(pk=scheme_id)
        grid = scheme_grid(scheme.pk)
        run = RfmRun.objects.create(
            scheme=scheme, trigger=trigger, user=user, started_at=timezone.now(), as_of=now
        )
        with connection.cursor() as cursor:
            _score(scheme, grid, now, cursor)
            changed = _record(scheme, run, now, cursor)
            cursor.execute(
                f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN frequency > 0 THEN 1 ELSE 0 END), 0),"
                f" COALESCE(ROUND(SUM(monetary), 2), 0) FROM {SCORED}"
            )
            size, buyers, money = cursor.fetchone()
            for table in (BASE, SCORED):
                cursor.execute(f"DROP TABLE {table}")
        run.size, run.buyers, run.changed = size, buyers, changed
        run.money = Decimal(str(money)).quantize(Decimal("0.01"))
        run.took_ms = round((time.monotonic() - started) * 1000)
        run.save(update_fields=["size", "buyers", "changed", "money", "took_ms"])
    return run


def rfm_cells_reassign(scheme_id: int) -> int:
    """Put the scheme's current scores into the cells as they are now defined (after the
    cells were edited); no history row is written: no customer moved, the map did. Returns
    how many scores were updated. Raises ``RfmCellsInvalid`` for cells that do not cover the
    grid."""
    with transaction.atomic():
        RfmScheme.objects.select_for_update().get(pk=scheme_id)
        grid = scheme_grid(scheme_id)
        cell, params = _cell_sql(grid, "r", "f")
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {RfmScore._meta.db_table} SET cell = {cell} WHERE scheme_id = %s"
                f" AND cell <> {cell}",
                [*params, scheme_id, *params],
            )
            return max(cursor.rowcount, 0)


def rfm_recompute_all(
    *, now: dt.datetime | None = None, trigger: str = RfmRun.Trigger.SCHEDULE
) -> dict[str, int]:
    """Recompute every active scheme of an active programme, then refresh the rule segments
    that read it; a scheme that fails is logged and the others go on."""
    from loyalty.rfm.segments import rfm_segments_refresh

    now = now or timezone.now()
    done = {"schemes": 0, "failed": 0, "segments": 0}
    schemes = RfmScheme.objects.filter(is_active=True, programme__is_active=True).order_by("pk")
    for scheme_id in list(schemes.values_list("pk", flat=True)):
        try:
            rfm_recompute(scheme_id, now=now, trigger=trigger)
        except RfmCellsInvalid as exc:
            log.warning("RFM scheme %s not recomputed: %s", scheme_id, exc)
            done["failed"] += 1
            continue
        except RfmScheme.DoesNotExist:
            continue  # deleted meanwhile
        done["schemes"] += 1
        done["segments"] += rfm_segments_refresh(scheme_id, now=now).refreshed
    return done
