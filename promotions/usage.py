"""Budgets and limits of promotions: what they have given, read for a preview, locked and
written at confirm, given back by refunds.

A promotion with a budget or a limit keeps one ``PromotionUsage`` row per scope it counts:
``total`` (the budget), ``c:<customer>`` (receipts per customer), ``cd:<customer>:<day>``
(receipts per customer a day) and ``d:<day>`` (receipts a day, all customers); the day is the
store's calendar day of the sale.

``calculate`` and the simulator read the rows without locks. ``confirm`` evaluates, locks the
rows of every limited promotion that fired or was stopped by a limit (ordered by promotion and
scope, after the customer's accounts, so concurrent confirms never deadlock on them), and
evaluates again with the locked figures: two registers selling at the same moment can never
give more than the budget or the limits allow. Promotions without a budget or limits cost
nothing here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date
from decimal import Decimal

from django.db.models import Q

from loyalty.money import ZERO, quantize
from promotions.engine import evaluate
from promotions.engine.evaluate import in_scope
from promotions.engine.types import (
    EngineResult,
    PromotionRule,
    ReceiptContext,
    RulesSnapshot,
    UsageFacts,
)
from promotions.locks import usages_for_update

LIMIT_REASONS = frozenset(
    [
        "budget_spent",
        "limit_per_customer",
        "limit_per_customer_day",
        "limit_per_day",
    ]
)


def _scopes(promotion: PromotionRule, ctx: ReceiptContext) -> dict[str, str]:
    """The scopes of ``promotion`` a sale of ``ctx`` counts in: the field of ``UsageFacts``
    each feeds, and the usage row's key."""
    customer = ctx.customer.id if ctx.customer is not None and ctx.customer.id else None
    day = ctx.local_date.isoformat()
    scopes = {}
    if promotion.budget is not None:
        scopes["given"] = "total"
    if promotion.uses_per_customer is not None and customer is not None:
        scopes["customer_uses"] = f"c:{customer}"
    if promotion.uses_per_customer_day is not None and customer is not None:
        scopes["customer_day_uses"] = f"cd:{customer}:{day}"
    if promotion.uses_per_day is not None:
        scopes["day_uses"] = f"d:{day}"
    return scopes


def usage_keys(promotion: PromotionRule, ctx: ReceiptContext) -> list[str]:
    """The keys of the usage rows a sale of ``ctx`` counts in for ``promotion``."""
    return list(_scopes(promotion, ctx).values())


def _facts(promotion: PromotionRule, ctx: ReceiptContext, rows: dict) -> UsageFacts:
    """``rows``: (promotion id, key) -> (uses, given)."""
    facts = {}
    for name, key in _scopes(promotion, ctx).items():
        uses, given = rows.get((promotion.id, key), (0, ZERO))
        facts[name] = given if name == "given" else uses
    return UsageFacts(**facts)


def _limited(snapshot: RulesSnapshot, ctx: ReceiptContext) -> list[PromotionRule]:
    return [p for p in snapshot.limited_promotions if in_scope(p, ctx)]


def _wanted(promotions, ctx) -> Q:
    wanted = Q(pk__in=[])
    for promotion in promotions:
        keys = usage_keys(promotion, ctx)
        if keys:
            wanted |= Q(promotion_id=promotion.id, key__in=keys)
    return wanted


def usage_read(snapshot: RulesSnapshot, ctx: ReceiptContext) -> ReceiptContext:
    """``ctx`` with the usage of its limited promotions, read without locks (a preview)."""
    from promotions.models import PromotionUsage

    promotions = _limited(snapshot, ctx)
    if not promotions:
        return ctx
    rows = {
        (promotion_id, key): (uses, given)
        for promotion_id, key, uses, given in PromotionUsage.objects.filter(
            _wanted(promotions, ctx)
        ).values_list("promotion_id", "key", "uses", "given")
    }
    return replace(ctx, usage={p.id: _facts(p, ctx, rows) for p in promotions})


def usage_replayed(
    snapshot: RulesSnapshot,
    ctx: ReceiptContext,
    rows: dict[tuple[int, str], tuple],
    promotions: list[PromotionRule] | None = None,
) -> ReceiptContext:
    """``ctx`` with the usage of its limited promotions (or of ``promotions``) taken from
    ``rows`` ((promotion id, key) -> (uses, given)), the figures a replay (the back-test)
    keeps in memory."""
    if promotions is None:
        promotions = _limited(snapshot, ctx)
    if not promotions:
        return ctx
    return replace(ctx, usage={p.id: _facts(p, ctx, rows) for p in promotions})


def usage_replay_count(
    snapshot: RulesSnapshot,
    ctx: ReceiptContext,
    given: dict[int, Decimal],
    rows: dict[tuple[int, str], tuple],
) -> None:
    """Count in ``rows`` what ``given`` (promotion id -> worth) used, as ``usage_record``
    counts a confirmed sale: one use and the worth in every scope of each limited promotion."""
    limited = {p.id: p for p in snapshot.limited_promotions}
    limited.update({p.id: p for p in snapshot.occasions if p.limited})
    for pid, worth in given.items():
        if pid not in limited:
            continue
        for key in usage_keys(limited[pid], ctx):
            uses, so_far = rows.get((pid, key), (0, ZERO))
            rows[(pid, key)] = (uses + 1, so_far + worth)


def usage_settle(
    snapshot: RulesSnapshot, ctx: ReceiptContext, result: EngineResult
) -> tuple[ReceiptContext, EngineResult, dict]:
    """Lock the usage rows the sale involves and evaluate again with their figures (inside the
    confirm's transaction). Returns the context, the result and the locked rows."""
    limited = {p.id: p for p in snapshot.limited_promotions}
    if not limited:
        return ctx, result, {}
    locked: dict = {}
    done: set[int] = set()
    while True:
        involved = {pid for pid in result.fired() if pid in limited}
        involved |= {pid for pid, why in result.blocked if pid in limited and why in LIMIT_REASONS}
        new = sorted(involved - done)
        if not new:
            return ctx, result, locked
        done.update(new)
        locked.update(_lock([limited[pid] for pid in new], ctx))
        rows = {key: (row.uses, row.given) for key, row in locked.items()}
        usage = dict(ctx.usage)
        usage.update({pid: _facts(limited[pid], ctx, rows) for pid in done})
        ctx = replace(ctx, usage=usage)
        result = evaluate(snapshot, ctx)


def _lock(promotions: list[PromotionRule], ctx: ReceiptContext) -> dict:
    from promotions.models import PromotionUsage

    pairs = sorted((p.id, key) for p in promotions for key in usage_keys(p, ctx))
    if not pairs:
        return {}
    PromotionUsage.objects.bulk_create(
        [PromotionUsage(promotion_id=pid, key=key) for pid, key in pairs],
        ignore_conflicts=True,
    )
    rows = usages_for_update(PromotionUsage.objects.filter(_wanted(promotions, ctx)))
    return {(row.promotion_id, row.key): row for row in rows}


def usage_record(receipt, snapshot, ctx: ReceiptContext, result: EngineResult, locked) -> None:
    """Count the confirmed sale in the rows ``usage_settle`` locked."""
    from promotions.models import PromotionUsage, PromotionUsageEffect

    if not locked:
        return
    limited = {p.id: p for p in snapshot.limited_promotions}
    changed, effects = [], []
    for pid, worth in sorted(result.given.items()):
        if pid not in limited:
            continue
        for key in usage_keys(limited[pid], ctx):
            row = locked[(pid, key)]
            row.uses += 1
            row.given += worth
            changed.append(row)
            effects.append(PromotionUsageEffect(usage=row, receipt=receipt, uses=1, given=worth))
    PromotionUsage.objects.bulk_update(changed, ["uses", "given"])
    PromotionUsageEffect.objects.bulk_create(effects)


def usage_undo(receipt, refund, fully: bool) -> None:
    """Give back what ``refund`` reverses: the worth of the rewards it took back, and the use
    itself once the whole receipt is refunded or cancelled."""
    from loyalty.models import Currency, ReceiptLineReward
    from promotions.models import PromotionUsage, PromotionUsageEffect

    net: dict[int, list] = defaultdict(lambda: [0, ZERO])
    for usage_id, uses, given in PromotionUsageEffect.objects.filter(receipt=receipt).values_list(
        "usage_id", "uses", "given"
    ):
        net[usage_id][0] += uses
        net[usage_id][1] += given
    net = {pk: value for pk, value in net.items() if value[0] > 0 or value[1] > 0}
    if not net:
        return
    rates = dict(Currency.objects.values_list("pk", "rub_rate"))
    reversed_worth: dict[int, Decimal] = defaultdict(Decimal)
    for promotion_id, effect, currency_id, amount in ReceiptLineReward.objects.filter(
        refund=refund
    ).values_list("promotion_id", "effect", "currency_id", "amount"):
        rate = rates[currency_id] if effect == ReceiptLineReward.Effect.POINTS else Decimal(1)
        reversed_worth[promotion_id] += -amount * rate
    rows = usages_for_update(PromotionUsage.objects.filter(pk__in=net))
    changed, effects = [], []
    for row in rows:
        uses_left, given_left = net[row.pk]
        uses = uses_left if fully else 0
        given = given_left if fully else min(quantize(reversed_worth[row.promotion_id]), given_left)
        if uses <= 0 and given <= 0:
            continue
        row.uses = max(row.uses - uses, 0)
        row.given = max(row.given - given, ZERO)
        changed.append(row)
        effects.append(
            PromotionUsageEffect(
                usage=row, receipt=receipt, refund=refund, uses=-uses, given=-given
            )
        )
    PromotionUsage.objects.bulk_update(changed, ["uses", "given"])
    PromotionUsageEffect.objects.bulk_create(effects)


def usage_prune(before) -> int:
    """Delete the per-day usage rows (``d:<day>``, ``cd:<customer>:<day>``) of days before
    ``before``: no sale counts in them any more. Returns how many rows went."""
    from promotions.models import PromotionUsage

    stale = []
    rows = PromotionUsage.objects.filter(key__regex=r"^(d|cd):").values_list("pk", "key")
    for pk, key in rows.iterator(chunk_size=5000):
        if date.fromisoformat(key.rsplit(":", 1)[1]) < before:
            stale.append(pk)
    deleted = 0
    for start in range(0, len(stale), 5000):
        deleted += (
            PromotionUsage.objects.filter(pk__in=stale[start : start + 5000])
            .delete()[1]
            .get("promotions.PromotionUsage", 0)
        )
    return deleted
