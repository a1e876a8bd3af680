"""Compile the rules snapshot once per process; recompile when any rule changes.

A change to a promotion, a reward, a currency, a counter or a programme bumps a version stamp
in the shared cache (Redis in production, so every process sees it); a process compares its
snapshot's stamp with the cache on each use and recompiles when they differ. With a
per-process cache (no CACHE_URL) a snapshot also expires after ``LOCAL_MAX_AGE`` seconds, so
a change made in another process shows within that time.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save

from promotions.engine.types import (
    CounterRule,
    CurrencyRule,
    ProgrammeRule,
    PromotionRule,
    RewardRule,
    RulesSnapshot,
    TierRule,
)

CACHE_KEY = "promotions:rules-version"
LOCAL_MAX_AGE = 30.0

_lock = threading.Lock()
_current: tuple[RulesSnapshot, float] | None = None


def _version() -> str:
    version = cache.get(CACHE_KEY)
    if version is None:
        version = uuid.uuid4().hex
        cache.add(CACHE_KEY, version, timeout=None)
        version = cache.get(CACHE_KEY) or version
    return version


def snapshot_get() -> RulesSnapshot:
    """The current snapshot (compiled on first use and after every change)."""
    global _current
    version = _version()
    current = _current
    if (
        current is not None
        and current[0].version == version
        and time.monotonic() - current[1] < LOCAL_MAX_AGE
    ):
        return current[0]
    with _lock:
        snapshot = snapshot_compile(version)
        _current = (snapshot, time.monotonic())
        return snapshot


def snapshot_invalidate(**_kwargs) -> None:
    """Make every process recompile its snapshot on its next use."""
    global _current
    cache.set(CACHE_KEY, uuid.uuid4().hex, timeout=None)
    _current = None


def snapshot_compile(version: str) -> RulesSnapshot:
    from loyalty.models import Counter, Currency, Programme, Tier
    from promotions.models import Promotion

    currencies = {
        currency.pk: CurrencyRule(
            id=currency.pk,
            code=currency.code,
            decimal_places=currency.decimal_places,
            rub_rate=currency.rub_rate,
        )
        for currency in Currency.objects.all()
    }
    mains = dict(Currency.objects.filter(is_default=True).values_list("programme_id", "pk"))
    programmes = {
        programme.pk: ProgrammeRule(
            id=programme.pk,
            max_spend_percent=programme.max_spend_percent,
            min_money_payment=programme.min_money_payment,
            offline_spend_cap=programme.offline_spend_cap,
            main_currency_id=mains.get(programme.pk),
            partner_id=programme.partner_id,
            is_active=programme.is_active,
            hold_minutes=programme.hold_minutes,
            refund_shortfall_policy=programme.refund_shortfall_policy,
            offline_window_days=programme.offline_window_days,
            max_receipt_lines=programme.max_receipt_lines,
        )
        for programme in Programme.objects.all()
    }
    promotions = tuple(
        PromotionRule(
            id=promotion.pk,
            name=promotion.name,
            programme_id=promotion.programme_id,
            partner_id=promotion.partner_id,
            status=promotion.status,
            priority=promotion.priority,
            starts_at=promotion.starts_at,
            ends_at=promotion.ends_at,
            cashier_message=promotion.cashier_message,
            rewards=tuple(
                RewardRule(
                    id=reward.pk,
                    kind=reward.kind,
                    value=reward.value,
                    currency_id=reward.currency_id,
                    activation_delay=timedelta(days=reward.activation_delay_days),
                    lifetime=(
                        timedelta(days=reward.lifetime_days) if reward.lifetime_days else None
                    ),
                )
                for reward in promotion.rewards.all()
            ),
        )
        for promotion in Promotion.objects.exclude(status=Promotion.Status.DRAFT)
        .prefetch_related("rewards")
        .order_by("-priority", "pk")
    )
    counters = tuple(
        CounterRule(
            id=counter.pk,
            code=counter.code,
            programme_id=counter.programme_id,
            unit=counter.unit,
            period=counter.period,
        )
        for counter in Counter.objects.filter(is_active=True)
    )
    tiers = tuple(
        TierRule(
            id=tier.pk,
            programme_id=tier.programme_id,
            name=tier.name,
            rank=tier.rank,
            threshold=tier.threshold,
        )
        for tier in Tier.objects.all()
    )
    return RulesSnapshot(
        version=version,
        tiers=tiers,
        programmes=programmes,
        currencies=currencies,
        promotions=promotions,
        counters=counters,
    )


def connect_signals() -> None:
    from loyalty.models import Counter, Currency, Programme, Tier
    from promotions.models import Promotion, Reward

    for model in (Promotion, Reward, Currency, Counter, Programme, Tier):
        post_save.connect(snapshot_invalidate, sender=model, dispatch_uid=f"rules-{model.__name__}")
        post_delete.connect(
            snapshot_invalidate, sender=model, dispatch_uid=f"rules-del-{model.__name__}"
        )
