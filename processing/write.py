"""Writing a purchase plan: the receipt, its lines, its postings and line rewards, the tier
membership and the card's activation, then what the purchase does to the rest of the world
(counters, coupons, exchanges, tier records, usage of limited promotions, certificates,
occasions, the hold it consumes).

``write`` chooses the writer once: on PostgreSQL a common sale's rows go in two round trips
(``processing.fastpath``: ids, then every row); the rare turns of a sale (an offline shortfall,
a tier a promotion gives, a first tier membership, a referrer's points, a customer made for an
unbound card, lots that were not read under the locks) and every sale elsewhere go through the
ORM. Both writers consume the same plan and write the same rows (tests compare them row for
row: tests/processing/test_fastpath.py).
"""

from __future__ import annotations

from django.db.models import F
from django.db.models.functions import Greatest

from loyalty.models import Account, Card, Hold, Receipt, ReceiptLine, ReceiptLineReward
from loyalty.services.certificates import certificates_redeem
from loyalty.services.ledger import postings_create, postings_statements
from loyalty.services.lots import debts_settle, hold_release
from processing import fastpath
from processing.api.answers import purchase_answer
from processing.plan import PurchasePlan
from processing.postings import (
    counters_step,
    exchanges_record,
    line_rewards,
    occasions_send,
)
from processing.tiers import tier_record
from promotions.coupons import coupons_grant, coupons_redeem, hold_key
from promotions.models import Coupon
from promotions.signals import coupons_issued
from promotions.usage import usage_record


def write(plan: PurchasePlan) -> Receipt:
    """Write ``plan`` in the caller's transaction (the accounts are locked); return the receipt."""
    receipt = _write_sql(plan) if _fits_sql(plan) else _write_orm(plan)
    _write_effects(plan, receipt)
    return receipt


def _fits_sql(plan: PurchasePlan) -> bool:
    """Whether the SQL writer takes the plan: the common sale, whose locks and lots were read
    through the fast path."""
    state, sale = plan.state, plan.sale
    return (
        state.fast
        and not plan.shortfall
        and not plan.tier.awards  # a tier reward's record needs the receipt's row first
        and state.lots is not None  # read with the locks (and still open: none matured)
        and not sale.referrer_accounts
    )


def _write_orm(plan: PurchasePlan) -> Receipt:
    """Write the purchase's rows through the ORM."""
    sale = plan.sale
    for account_pk, limit in plan.debt_limits.items():
        Account.objects.filter(pk=account_pk).update(debt_limit=Greatest(F("debt_limit"), limit))
    membership = plan.tier.membership
    if plan.tier.changed:
        assert membership is not None  # changed: the membership to write
        membership.save()
    receipt = Receipt.objects.create(**plan.receipt_fields)
    lines = ReceiptLine.objects.bulk_create(
        [ReceiptLine(receipt=receipt, **fields) for fields in plan.line_fields]
    )
    line_by_no = {line.line_no: line for line in lines}
    if sale.customer is not None:
        specs = plan.specs
        for spec in specs:
            spec.receipt = receipt
        postings_create(specs, savepoint=False)
        ReceiptLineReward.objects.bulk_create(
            [
                ReceiptLineReward(
                    line=line_by_no[reward.line_no],
                    promotion_id=reward.promotion_id,
                    effect=reward.effect,
                    currency_id=reward.currency_id,
                    amount=reward.amount,
                    lot_id=reward.lot_id,
                )
                for reward in line_rewards(plan.result, plan.earns)
            ]
        )
        for account in [*plan.state.accounts.values(), *sale.referrer_accounts.values()]:
            debts_settle(account, plan.actor, receipt, plan.now)
    if plan.activate_card:
        assert sale.card is not None  # an issued card's first purchase
        Card.objects.filter(pk=sale.card.pk, status=Card.Status.ISSUED).update(
            status=Card.Status.ACTIVE, activated_at=plan.now
        )
    return receipt


def _write_sql(plan: PurchasePlan) -> Receipt:
    """Write the purchase's rows in two round trips (ids, then every row): see fastpath."""
    sale, state = plan.sale, plan.state
    locked = state.accounts
    assert state.lots is not None  # _fits_sql
    tier_statement = None
    membership = plan.tier.membership
    if plan.tier.changed:
        assert membership is not None  # changed: the membership to write
        if membership.pk is None:
            membership.save()  # a first membership is inserted through the ORM
        else:
            tier_statement = fastpath.membership_statement(membership)
    specs = plan.specs
    entries = sum(len(spec.legs) for spec in specs)
    ids = fastpath.ids_take(lines=len(plan.line_fields), postings=len(specs), entries=entries)
    receipt = Receipt(pk=ids.receipt, customer_id=plan.receipt_fields["customer_id"])
    for spec in specs:
        spec.receipt = receipt
    statements = fastpath.receipt_statements(
        {"id": ids.receipt, **plan.receipt_fields},
        [
            {"id": line_id, "receipt_id": ids.receipt, **fields}
            for line_id, fields in zip(ids.lines, plan.line_fields, strict=True)
        ],
    )
    line_ids = {
        fields["line_no"]: line_id
        for line_id, fields in zip(ids.lines, plan.line_fields, strict=True)
    }
    if specs:
        statements += postings_statements(
            specs,
            locked={account.pk: account for account in locked.values()},
            lots={lot.pk: lot for lot in state.lots},
            currencies=sale.snapshot.currencies,
            posting_ids=ids.postings,
            entry_ids=ids.entries,
        )
    statements += fastpath.rewards_statement(
        [
            (
                line_ids[reward.line_no],
                None,
                reward.promotion_id,
                reward.effect,
                reward.currency_id,
                reward.amount,
                reward.lot_id,
            )
            for reward in line_rewards(plan.result, plan.earns)
        ]
    )
    if tier_statement is not None:
        statements.append(tier_statement)
    if plan.activate_card:
        assert sale.card is not None  # an issued card's first purchase
        statements.append(fastpath.card_activation_statement(sale.card.pk, plan.now))
    fastpath.run(statements)
    for account in locked.values():
        debts_settle(account, plan.actor, receipt, plan.now)
    return receipt


def _coupons_told(plan: PurchasePlan, receipt: Receipt, grants) -> None:
    """The coupons the purchase earned for the next one: their codes join the answer (and the
    stored one that retries replay), and the customer is told (``coupons_issued``). A grant
    whose series does not exist yet is issued later and told then."""
    coupons = list(Coupon.objects.filter(grant__in=grants).order_by("pk"))
    if not coupons:
        return
    outcome = plan.outcome
    outcome.coupons_issued = coupons
    outcome.stored = None
    outcome.stored = purchase_answer(outcome)
    Receipt.objects.filter(pk=receipt.pk).update(result=outcome.stored)
    coupons_issued.send(
        sender=Coupon, customer=plan.sale.customer, coupons=coupons, receipt=receipt
    )


def _write_effects(plan: PurchasePlan, receipt: Receipt) -> None:
    """What the purchase does beyond its rows, in the same transaction."""
    sale, result, terminal, now = plan.sale, plan.result, plan.sale.terminal, plan.now
    stepped = []
    if sale.customer is not None:
        stepped = counters_step(sale, receipt, result)
        grants = coupons_grant(receipt, sale.customer, result.coupons_issued)
        if grants:
            _coupons_told(plan, receipt, grants)
    if plan.exchanges:
        exchanges_record(receipt, plan.exchanges)
    for award, change in plan.tier.awards:
        award.receipt = receipt
        award.save()
        if change is not None:
            tier_record(change, receipt)
    if plan.tier.move is not None:
        tier_record(plan.tier.move, receipt)
    usage_record(receipt, sale.snapshot, plan.context, result, plan.usage)
    if sale.coupons:
        coupons_redeem(receipt, sale.customer, sale.coupons, plan.series_fired, now)
    if sale.certificates:
        certificates_redeem(
            receipt,
            sale.certificates,
            {line.line_no: line.certificate_paid for line in result.lines},
            terminal,
            now,
            hold_key(terminal.pk, plan.request.receipt_id),
        )
    if sale.customer is not None and sale.snapshot.occasion_kinds:
        occasions_send(sale, receipt, stepped, plan.at)
    main = plan.state.main
    if main is not None and main.held > 0:
        hold_release(terminal, plan.request.receipt_id, Hold.Status.CONSUMED, now)
