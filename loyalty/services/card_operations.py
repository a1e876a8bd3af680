"""What operators do with cards and customers: activate, block, mark lost, unblock, replace a
card, and merge two customers into one.

Every operation runs in one transaction under row locks and raises a ``LoyaltyError`` before
writing anything when it does not apply. Points move only through ``postings_create``.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext

from crm.locks import customers_for_update
from crm.models import Customer
from crm.services.merge import customer_records_merge
from loyalty.errors import (
    BlockReasonRequired,
    CardAlreadyBound,
    CardBlocked,
    CardNotFound,
    CardProgrammeMismatch,
    CardReplaceSame,
    CardStatusInvalid,
    CardWithoutCustomer,
    CustomerAlreadyMerged,
    MergeHoldsActive,
    MergeIntoSelf,
)
from loyalty.locks import (
    accounts_for_update,
    cards_for_update,
    counter_values_for_update,
    memberships_for_update,
)
from loyalty.models import (
    Account,
    Card,
    CardOperation,
    CustomerEvent,
    FavouriteProduct,
    Hold,
    LedgerEntry,
    Lot,
    Posting,
    ReceiptCounterEffect,
    StaffProfile,
)
from loyalty.services.ledger import Actor, Leg, PostingSpec, customer_account, postings_create
from loyalty.services.lots import debts_settle
from loyalty.signals import customers_merging

UNUSABLE = (Card.Status.BLOCKED, Card.Status.LOST, Card.Status.REPLACED)


def _actor(user) -> Actor:
    return Actor.for_staff(user) if user is not None else Actor.system("card operations")


def _card_locked(card: Card) -> Card:
    return Card.objects.select_for_update().get(pk=card.pk)


def _record(card: Card, kind: str, user, reason: str = "", **details) -> None:
    """Write down who did what to the card and why (``CardOperation``), in the same
    transaction: a refused operation leaves no row."""
    CardOperation.objects.create(
        card=card, kind=kind, actor=user, reason=reason[:300], details=details
    )


@transaction.atomic
def card_activate(*, card: Card, user=None) -> Card:
    """Make a new or issued card active. Raises ``CardStatusInvalid`` for any other status."""
    card = _card_locked(card)
    if card.status not in (Card.Status.NEW, Card.Status.ISSUED):
        raise CardStatusInvalid(card=card.number, card_status=card.status)
    now = timezone.now()
    card.status = Card.Status.ACTIVE
    card.issued_at = card.issued_at or now
    card.activated_at = card.activated_at or now
    card.save(update_fields=["status", "issued_at", "activated_at"])
    _record(card, CardOperation.Kind.ACTIVATE, user)
    return card


def _stop(card: Card, status: str, reason: str, user) -> Card:
    kind = (
        CardOperation.Kind.BLOCK if status == Card.Status.BLOCKED else CardOperation.Kind.MARK_LOST
    )
    _record(card, kind, user, reason, status_before=card.status)
    card.status = status
    card.blocked_at = timezone.now()
    card.block_reason = reason[:300]
    card.save(update_fields=["status", "blocked_at", "block_reason"])
    return card


@transaction.atomic
def card_block(*, card: Card, reason: str, user=None) -> Card:
    """Block a card so that the register refuses it (``card_blocked``); the points stay.

    Raises ``BlockReasonRequired`` for an empty reason and ``CardStatusInvalid`` for a card
    already blocked, lost or replaced.
    """
    reason = (reason or "").strip()
    if not reason:
        raise BlockReasonRequired()
    card = _card_locked(card)
    if card.status in UNUSABLE:
        raise CardStatusInvalid(card=card.number, card_status=card.status)
    return _stop(card, Card.Status.BLOCKED, reason, user)


@transaction.atomic
def card_mark_lost(*, card: Card, user=None, reason: str = "") -> Card:
    """Mark a card lost (also a blocked one); the register refuses it from now on.

    Raises ``CardStatusInvalid`` for a card already lost or replaced.
    """
    card = _card_locked(card)
    if card.status in (Card.Status.LOST, Card.Status.REPLACED):
        raise CardStatusInvalid(card=card.number, card_status=card.status)
    return _stop(card, Card.Status.LOST, (reason or "").strip() or card.block_reason, user)


@transaction.atomic
def card_unblock(*, card: Card, user=None) -> Card:
    """Give a blocked or lost card back the status it had: active if it was ever activated,
    else issued (it has a holder) or new. Raises ``CardStatusInvalid`` for any other status
    (a replaced card never comes back: its successor carries the customer)."""
    card = _card_locked(card)
    if card.status not in (Card.Status.BLOCKED, Card.Status.LOST):
        raise CardStatusInvalid(card=card.number, card_status=card.status)
    _record(card, CardOperation.Kind.UNBLOCK, user, status_before=card.status)
    if card.activated_at is not None:
        card.status = Card.Status.ACTIVE
    elif card.customer_id is not None:
        card.status = Card.Status.ISSUED
    else:
        card.status = Card.Status.NEW
    card.blocked_at = None
    card.block_reason = ""
    card.save(update_fields=["status", "blocked_at", "block_reason"])
    return card


@transaction.atomic
def card_replace(*, old_card: Card, new_card_number: str, user=None) -> Card:
    """Give ``old_card``'s customer the card ``new_card_number`` (made active) and mark the old
    one replaced, naming its successor; the register refuses it from now on. Balances live on
    the customer's accounts, so they follow. Returns the new card.

    Raises ``CardWithoutCustomer`` (the old card has no holder), ``CardStatusInvalid`` (it is
    already replaced), ``CardNotFound``, ``CardReplaceSame``, ``CardBlocked`` (the new card is
    blocked, lost or replaced), ``CardAlreadyBound`` (it belongs to another customer) and
    ``CardProgrammeMismatch``.
    """
    new_card_number = (new_card_number or "").strip()
    found = Card.objects.filter(number=new_card_number).values_list("pk", flat=True).first()
    if found is None:
        raise CardNotFound(card=new_card_number)
    if found == old_card.pk:
        raise CardReplaceSame(card=new_card_number)
    # Both rows in pk order: two operators replacing crosswise queue instead of deadlocking.
    cards = {c.pk: c for c in cards_for_update([old_card.pk, found])}
    old, new = cards[old_card.pk], cards[found]
    if old.customer_id is None:
        raise CardWithoutCustomer(card=old.number)
    if old.status == Card.Status.REPLACED:
        raise CardStatusInvalid(card=old.number, card_status=old.status)
    if new.status in UNUSABLE:
        raise CardBlocked(card=new.number, card_status=new.status)
    if new.customer_id is not None and new.customer_id != old.customer_id:
        raise CardAlreadyBound(card=new.number)
    if new.programme_id != old.programme_id:
        raise CardProgrammeMismatch(card=new.number)
    now = timezone.now()
    new.customer_id = old.customer_id
    new.status = Card.Status.ACTIVE
    new.issued_at = new.issued_at or now
    new.activated_at = new.activated_at or now
    new.save(update_fields=["customer", "status", "issued_at", "activated_at"])
    old.status = Card.Status.REPLACED
    old.replaced_by = new
    old.blocked_at = old.blocked_at or now
    old.save(update_fields=["status", "replaced_by", "blocked_at"])
    _record(old, CardOperation.Kind.REPLACE, user, new_card=new.number)
    _record(new, CardOperation.Kind.REPLACEMENT, user, old_card=old.number)
    return new


# --- Merge ---------------------------------------------------------------------------------


@transaction.atomic
def customers_merge(*, keep: Customer, gone: Customer, user=None) -> Customer:
    """Merge ``gone`` into ``keep`` and return ``keep``.

    ``gone``'s cards become ``keep``'s; every open lot of ``gone`` moves to ``keep``'s account
    of its currency by one posting per currency (cause ``merge``), keeping its state (pending
    stays pending), its dates and its spending rule; a debt moves as a debt, ``keep``'s spendable
    points repay it at once, and ``keep``'s debt limit grows to carry what is still owed. The higher tier per programme stays, with both qualifying spends;
    counter values add up per (counter, period), with the receipts' counter effects; ``gone``'s
    referrals and referrer pass to ``keep``. ``gone`` names ``keep`` in ``merged_into`` and
    loses its phone, email and referral code (``keep`` takes those it lacks, and blank names and
    birth date), so the register never finds it again. Each moved card gets a ``CardOperation``.

    The other rows naming a customer, model by model (docs/operations.md has the table):
    events and the staff membership move (the latter unless ``keep`` has one); favourites are
    deleted (recomputed nightly); accounts, ledger, receipts, refunds, tier changes and peer
    thanks stay as history (a refund after the merge follows the points: ``processing``);
    consents, answers, family, cars, dates and segments combine in
    ``crm.services.merge.customer_records_merge``; promotion usage, occasions, coupons and
    messages move in the receivers of ``customers_merging`` (promotions, communications).

    Raises ``MergeIntoSelf``, ``CustomerAlreadyMerged`` and ``MergeHoldsActive`` (points of
    ``gone`` are held for a purchase at a register); nothing is written then.
    """
    if keep.pk == gone.pk:
        raise MergeIntoSelf(customer=keep.pk)
    # Customers, then accounts, each in pk order (loyalty.locks). ``no_key``: a purchase that
    # holds the accounts writes rows naming the customer (a key-share lock), and must not wait
    # for this lock while this transaction waits for its accounts.
    customers = {c.pk: c for c in customers_for_update([keep.pk, gone.pk])}
    keep, gone = customers[keep.pk], customers[gone.pk]
    if keep.merged_into_id is not None or gone.merged_into_id is not None:
        raise CustomerAlreadyMerged(keep=keep.pk, gone=gone.pk)
    gone_accounts = list(Account.objects.filter(kind=Account.Kind.CUSTOMER, customer=gone))
    if Hold.objects.filter(account__in=gone_accounts, status=Hold.Status.ACTIVE).exists():
        raise MergeHoldsActive(customer=gone.pk)
    pairs = [(account, customer_account(keep, account.currency)) for account in gone_accounts]
    ids = [a.pk for pair in pairs for a in pair]
    accounts = {account.pk: account for account in accounts_for_update(ids)}
    _balances_move(keep, gone, pairs, accounts, _actor(user))
    _tiers_merge(keep, gone)
    _counters_merge(keep, gone)
    _loyalty_records_merge(keep, gone)
    filled = customer_records_merge(keep=keep, gone=gone)
    _cards_and_people_merge(keep, gone, filled, user)
    customers_merging.send(sender=Customer, keep=keep, gone=gone)
    return keep


def _balances_move(keep, gone, pairs, accounts, actor: Actor) -> None:
    lots = defaultdict(list)
    for lot in Lot.objects.filter(account__in=[g.pk for g, _k in pairs]).exclude(remaining=0):
        lots[lot.account_id].append(lot)
    specs = []
    for gone_account, keep_account in pairs:
        legs = []
        for lot in sorted(lots[gone_account.pk], key=lambda lot: lot.pk):
            bucket = (
                LedgerEntry.Bucket.PENDING
                if lot.state == Lot.State.PENDING
                else LedgerEntry.Bucket.ACTIVE
            )
            legs.append(Leg(gone_account, -lot.remaining, bucket, lot=lot))
            legs.append(
                Leg(
                    keep_account,
                    lot.remaining,
                    bucket,
                    active_at=lot.active_at,
                    expires_at=lot.expires_at,
                    spend_rule_id=lot.spend_rule_id,
                    receipt_id=lot.receipt_id,
                )
            )
        if not legs:
            continue
        before, after = accounts[keep_account.pk].balance, accounts[gone_account.pk].balance
        if before + after < -accounts[keep_account.pk].debt_limit:
            # The debt comes with the customer: keep's limit grows to what it now owes.
            Account.objects.filter(pk=keep_account.pk).update(
                debt_limit=Greatest(F("debt_limit"), -(before + after))
            )
        specs.append(
            PostingSpec(
                kind=Posting.Kind.TRANSFER,
                cause=Posting.Cause.MERGE,
                cause_ref=f"{gone.pk}>{keep.pk}",
                actor=actor,
                legs=legs,
                description=f"merge of customer {gone.public_id} into {keep.public_id}"[:300],
            )
        )
    postings_create(specs)
    for _gone_account, keep_account in pairs:
        debts_settle(
            keep_account,
            actor,
            None,
            timezone.now(),
            cause=Posting.Cause.MERGE,
            cause_ref=f"{gone.pk}>{keep.pk}",
            description="debt repaid from the merged points",
            allowed_only=False,
        )


def merged_leftovers_sweep() -> int:
    """Move to the kept customer what reached a merged customer's accounts after the merge.

    A purchase that read the card before the merge committed may lock the merged customer's
    accounts after it and post there; this job (every few minutes) moves such lots on, as the
    merge did, so no points stay where no register can reach them. Safe to run twice or
    concurrently with purchases; returns the number of customers swept.
    """
    swept = 0
    leftovers = (
        Account.objects.filter(kind=Account.Kind.CUSTOMER, customer__merged_into__isnull=False)
        .exclude(balance=0, pending=0)
        .values_list("customer_id", flat=True)
        .distinct()
    )
    for customer_id in list(leftovers):
        with transaction.atomic():
            gone = Customer.objects.select_for_update(no_key=True).get(pk=customer_id)
            keep = gone.merged_into
            assert keep is not None  # the accounts of merged customers (a merge is for good)
            while keep.merged_into is not None:  # merged again later: follow to the last
                keep = keep.merged_into
            gone_accounts = list(Account.objects.filter(kind=Account.Kind.CUSTOMER, customer=gone))
            if Hold.objects.filter(account__in=gone_accounts, status=Hold.Status.ACTIVE).exists():
                continue  # a purchase is under way there: the next run takes it
            pairs = [(a, customer_account(keep, a.currency)) for a in gone_accounts]
            ids = [a.pk for pair in pairs for a in pair]
            accounts = {account.pk: account for account in accounts_for_update(ids)}
            _balances_move(keep, gone, pairs, accounts, Actor.system("merged leftovers sweep"))
            _cards_move(keep, gone, None)
            swept += 1
    return swept


def _tiers_merge(keep: Customer, gone: Customer) -> None:
    kept = {m.programme_id: m for m in memberships_for_update(customer=keep)}
    for theirs in memberships_for_update(customer=gone):
        mine = kept.get(theirs.programme_id)
        if mine is None:
            theirs.customer = keep
            theirs.save(update_fields=["customer"])
            continue
        mine.qualifying_amount += theirs.qualifying_amount
        fields = ["qualifying_amount"]
        if theirs.tier.rank > mine.tier.rank:
            mine.tier, mine.since, mine.is_manual = theirs.tier, theirs.since, theirs.is_manual
            fields += ["tier", "since", "is_manual"]
        theirs.delete()
        mine.save(update_fields=fields)


def _counters_merge(keep: Customer, gone: Customer) -> None:
    kept = {(v.counter_id, v.period_start): v for v in counter_values_for_update(customer=keep)}
    for theirs in counter_values_for_update(customer=gone):
        mine = kept.get((theirs.counter_id, theirs.period_start))
        if mine is None:
            theirs.customer = keep
            theirs.save(update_fields=["customer", "updated_at"])
            continue
        mine.value += theirs.value
        # A refund of gone's receipt undoes its counter steps on the value that now holds them.
        ReceiptCounterEffect.objects.filter(value=theirs).update(value=mine)
        theirs.delete()
        mine.save(update_fields=["value", "updated_at"])


def _loyalty_records_merge(keep: Customer, gone: Customer) -> None:
    # Events received about the person count for them (conditions on a customer's events).
    CustomerEvent.objects.filter(customer=gone).update(customer=keep)
    # Favourites are recomputed nightly from receipts; gone's ranking means nothing for keep.
    FavouriteProduct.objects.filter(customer=gone).delete()
    # An employee's membership: the staff user now gives and receives thanks as keep, unless
    # keep is already another staff user's membership (then gone's link stays, as history).
    if not StaffProfile.objects.filter(customer=keep).exists():
        StaffProfile.objects.filter(customer=gone).update(customer=keep)


def _cards_move(keep: Customer, gone: Customer, user) -> None:
    cards = list(Card.objects.filter(customer=gone).order_by("pk"))
    Card.objects.filter(pk__in=[card.pk for card in cards]).update(customer=keep)
    CardOperation.objects.bulk_create(
        CardOperation(
            card=card,
            kind=CardOperation.Kind.MERGE,
            actor=user,
            details={"from_customer": gone.public_id, "to_customer": keep.public_id},
        )
        for card in cards
    )


def _cards_and_people_merge(keep: Customer, gone: Customer, filled: list[str], user) -> None:
    _cards_move(keep, gone, user)
    Customer.objects.filter(referrer=gone).exclude(pk=keep.pk).update(referrer=keep)
    keep_fields = list(filled)
    if keep.referrer_id == gone.pk:
        keep.referrer = None
        keep_fields.append("referrer")
    elif keep.referrer_id is None and gone.referrer_id not in (None, keep.pk):
        keep.referrer_id = gone.referrer_id
        keep_fields.append("referrer")
    phone, email = gone.phone, gone.email
    phone_verified, email_verified = gone.phone_verified, gone.email_verified
    gone.phone = gone.email = gone.referral_code = None
    gone.merged_into = keep
    gone.merged_at = timezone.now()
    gone.save(update_fields=["phone", "email", "referral_code", "merged_into", "merged_at"])
    if keep.phone is None and phone:
        keep.phone, keep.phone_verified = phone, phone_verified
        keep_fields += ["phone", "phone_verified"]
    if keep.email is None and email:
        keep.email, keep.email_verified = email, email_verified
        keep_fields += ["email", "email_verified"]
    if keep_fields:
        keep.save(update_fields=[*keep_fields, "updated_at"])


def on_customer_anonymising(sender, customer, user, **_kwargs) -> dict:
    """``crm.signals.customer_anonymising``: block the customer's usable cards. They stay bound
    to the customer, whose ledger names them, but can no longer be used or lead to a person."""
    blocked = 0
    for card in Card.objects.filter(customer=customer).exclude(status__in=UNUSABLE):
        card_block(card=card, reason=gettext("customer anonymised on request"), user=user)
        blocked += 1
    return {"cards_blocked": blocked}
