"""The pure evaluation of one receipt against a rules snapshot.

Order of money on a receipt (mechanics.md): discounts first, then points spent, then points
earned on what is left to pay in money. Every receipt-level value is rounded half-up once and
spread over the lines by the largest-remainder method, so lines add up exactly to the totals.

Promotions are walked in priority order (higher first, then by id), once for discounts and
once for points. Compatibility groups: ``first`` lets each line be rewarded by one member only
(the highest priority one that applies), ``best`` evaluates all applicable members on the same
state and keeps the one worth most to the customer (discounts and points alike, points at their
currency's rate: a group with both is settled in the discount walk), ``all`` lets each apply on
what the others left. An ``exclusive`` promotion stops every later promotion, in any group and in both phases
after it, on the lines it touched. Every promotion in scope that gives nothing gets a reason.

An exchange promotion (a price in points, e.g. chips) is in scope only when the register asks
for it by its code; it then applies like any other promotion, if the customer can pay its
price, and is paid for once however many of its rewards fire. Its price comes out of what the
customer holds before the receipt (chips earned on this receipt cannot pay for it); in the
main currency, it comes before the points spent on the receipt when it fired in the discount
walk, after them when it fired in the points walk. Each code asked for gets an outcome.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal

from loyalty.money import ZERO, allocate, quantize
from promotions.engine.bands import band_hit, band_measure, banded
from promotions.engine.types import (
    NO_USAGE,
    SPEND_MAX,
    Award,
    CounterStep,
    CouponAward,
    DiscountAward,
    EngineResult,
    ExchangeOutcome,
    LineResult,
    PromotionRule,
    ReceiptContext,
    RewardRule,
    RulesSnapshot,
    TierAward,
)

HUNDRED = Decimal("100")


def evaluate(snapshot: RulesSnapshot, ctx: ReceiptContext) -> EngineResult:
    """Return discounts, points to spend and earn, counters and messages for ``ctx``."""
    programme = snapshot.programmes[ctx.programme_id]
    main_currency = (
        snapshot.currencies.get(programme.main_currency_id)
        if programme.main_currency_id is not None
        else None
    )
    lines = [LineResult(line_no=line.line_no, amount=line.amount) for line in ctx.lines]
    total = sum((line.amount for line in lines), ZERO)
    # Lines selling gift cards are paid in money only and no promotion sees them.
    gift = {line.line_no for line in ctx.lines if line.gift_card}
    walk = _Walk(snapshot, ctx, programme, [x for x in lines if x.line_no not in gift])
    for promotion in snapshot.promotions:  # compiled in walk order: priority desc, id asc
        reason = _out_of_scope(promotion, ctx)
        if reason is None:
            walk.candidates.append(promotion)
        elif reason != "other_programme":
            walk.blocked.append((promotion.id, reason))

    # 1. Discounts, each on the amount the previous ones left (and counter steps).
    discounts = walk.phase(RECEIPT_PHASE)
    discount = sum((line.discount for line in lines), ZERO)
    # 2. Points spent: restricted points where their rules allow, then the others.
    spent_by_rule: dict[int | None, Decimal] = {}
    if ctx.customer is not None and main_currency is not None:
        payable = sum((line.amount - line.discount for line in walk.lines), ZERO)
        spent_by_rule = _spend(snapshot, programme, main_currency, ctx, walk, payable)
        if main_currency.spend_block and spent_by_rule:
            spent_by_rule = _spend_in_blocks(
                snapshot, programme, main_currency, ctx, walk, payable, spent_by_rule
            )
    spent_points = sum(spent_by_rule.values(), ZERO)
    walk.spent_main = spent_points
    points_spent = sum((line.points_spent for line in lines), ZERO)
    for line in lines:
        line.to_pay = line.amount - line.discount - line.points_spent
    to_pay = sum((line.to_pay for line in lines), ZERO)
    gift_cards = sum((line.to_pay for line in lines if line.line_no in gift), ZERO)
    # 2b. Gift certificates pay what is left, except the gift cards sold.
    certificate_paid = ZERO
    if ctx.certificate_funds > 0:
        certificate_paid = min(ctx.certificate_funds, to_pay - gift_cards)
        parts = _spread(
            certificate_paid,
            [line.line_no for line in walk.lines],
            {line.line_no: line.to_pay for line in walk.lines},
        )
        for line in walk.lines:
            line.certificate_paid = parts.get(line.line_no, ZERO)

    # 3. Points earned on what is left to pay in money; multipliers after what they multiply.
    awards = walk.phase(POINTS_PHASE) if ctx.customer is not None else walk.anonymous(POINTS_PHASE)
    if ctx.customer is not None:
        awards += walk.multipliers(awards)

    earned = ZERO
    if main_currency is not None:
        by_line = {line.line_no: line for line in lines}
        for award in awards:
            if award.currency_id != main_currency.id or award.beneficiary != "customer":
                continue
            earned += award.amount
            for line_no, part in award.per_line.items():
                by_line[line_no].points_earned += part

    counters = (
        _counter_steps(snapshot, ctx, to_pay - gift_cards) if ctx.customer is not None else []
    )
    counters += walk.steps
    return EngineResult(
        total=total,
        discount=discount,
        points_spent=points_spent,
        spent_points=spent_points,
        to_pay=to_pay,
        points_earned=earned,
        lines=lines,
        awards=awards,
        discounts=discounts,
        counters=counters,
        blocked=walk.blocked,
        messages=walk.messages,
        main_currency_id=main_currency.id if main_currency else None,
        given=walk.given,
        coupons_issued=walk.coupons,
        spent_by_rule=spent_by_rule,
        exchanges=_exchange_outcomes(snapshot, ctx, walk) if ctx.exchanges else [],
        tier_awards=walk.tier_awards,
        certificate_paid=certificate_paid,
        gift_cards=gift_cards,
        bands=walk.band_hits,
    )


DISCOUNTS = frozenset(
    [
        "discount_percent",
        "discount_fixed",
        "special_price",
        "every_nth",
        "bundle_price",
        "discount_per_unit",
    ]
)
# Line rewards a ``max_units`` limit narrows to the cheapest units (every_nth and bundle_price
# count their own units; points_percent in ``_points``).
PER_UNIT = frozenset(["discount_percent", "special_price", "discount_per_unit"])
POINTS = frozenset(["points_percent", "points_fixed"])
MULTIPLIER = "points_multiplier"
COUNTER_STEP = "counter_step"
COUPON = "coupon"
TIER = "tier"
# The first walk gives discounts and counter steps (so that the points' conditions see the
# steps); the second gives points, coupons and tiers.
RECEIPT_PHASE = DISCOUNTS | {COUNTER_STEP}
POINTS_PHASE = POINTS | {COUPON, TIER}
NO_LINES = frozenset([COUNTER_STEP, COUPON, TIER])  # rewards that give nothing on the lines


class _Walk:
    """The priority walk over the promotions in scope: conditions, compatibility groups,
    exclusive promotions, and the reasons of everything that did not fire."""

    def __init__(self, snapshot: RulesSnapshot, ctx: ReceiptContext, programme, lines):
        self.snapshot = snapshot
        self.ctx = ctx
        self.programme = programme
        self.lines = lines
        self.inputs = {line.line_no: line for line in ctx.lines}
        self.candidates: list[PromotionRule] = []
        self.blocked: list[tuple[int, str]] = []
        self.messages: list[str] = []
        self.fired: set[int] = set()
        # line number -> walk position of the exclusive promotion that touched it first
        self.exclusive_at: dict[int, int] = {}
        # A product set named only by products is matched through the receipt's product ids
        # (a set intersection), not line by line: most promotions touch no line of a receipt.
        self.by_product: dict[int, list[LineResult]] = {}
        for line in lines:
            product_id = self.inputs[line.line_no].product_id
            if product_id is not None:
                self.by_product.setdefault(product_id, []).append(line)
        self.product_ids = frozenset(self.by_product)
        self.position = {line.line_no: n for n, line in enumerate(lines)}
        self.matched: dict[int, list[LineResult]] = {}
        self.given: dict[int, Decimal] = {}  # promotion id -> worth it gave on this receipt
        self.steps: list[CounterStep] = []  # counter steps the promotions gave
        self.stepped: dict[int, Decimal] = {}  # counter id -> what they added so far
        self.coupons: list[CouponAward] = []
        self.tier_awards: list[TierAward] = []
        self.counter_rules = {counter.id: counter for counter in snapshot.counters}
        self.occasion = False  # an occasion of the customer's life: no receipt, no own step
        # Exchanges: the promotions paid for so far, the points they take by currency, the
        # lines each touched, and the main-currency points the receipt spends (phase 2).
        self.exchanged: set[int] = set()
        self.reserved: dict[int, Decimal] = {}
        self.exchange_lines: dict[int, set[int]] = {}
        self.spent_main = ZERO
        self.best_of: dict[int, int] = {}  # best group -> its winner, once a walk settled it
        self.band_hits: list = []  # the bands the banded rewards applied gave with

    def _matching(self, product_set) -> list[LineResult]:
        """The receipt's lines in ``product_set`` (all lines for none), in receipt order."""
        if product_set is None:
            return self.lines
        found = self.matched.get(id(product_set))
        if found is not None:
            return found
        if (
            product_set.product_ids
            and not product_set.category_ids
            and not product_set.brand_ids
            and not product_set.excluded_category_ids
        ):
            hits = (self.product_ids & product_set.product_ids) - product_set.excluded_product_ids
            found = [line for pid in hits for line in self.by_product[pid]]
            if len(found) > 1:
                found.sort(key=lambda line: self.position[line.line_no])
        else:
            found = [line for line in self.lines if product_set.matches(self.inputs[line.line_no])]
        self.matched[id(product_set)] = found
        return found

    # -- one phase: discounts, or points ------------------------------------------------------

    def phase(self, kinds: frozenset[str]) -> list:
        results: list = []
        taken: dict[int, set[int]] = {}  # group of mode first -> lines one of them rewarded
        decided: set[int] = set()  # promotions a best group already settled
        for index, promotion in enumerate(self.candidates):
            if promotion.id in decided or not _has(promotion, kinds):
                continue
            if promotion.group_id is not None and promotion.group_mode == "best":
                winner_id = self.best_of.get(promotion.group_id, promotion.id)
                if winner_id != promotion.id:
                    continue  # lost when an earlier phase settled its group
                if promotion.group_id not in self.best_of:
                    decided.update(
                        p.id for p in self.candidates if p.group_id == promotion.group_id
                    )
                    results += self._best(promotion.group_id, kinds)
                    continue
            group_taken = (
                taken.setdefault(promotion.group_id, set())
                if promotion.group_id is not None and promotion.group_mode == "first"
                else set()
            )
            trial = self._try(promotion, index, kinds, group_taken)
            if isinstance(trial, str):
                self.blocked.append((promotion.id, trial))
                continue
            results += self._apply(promotion, index, trial)
            if promotion.group_id is not None and promotion.group_mode == "first":
                group_taken.update(_touched(trial))
        return results

    def _best(self, group_id: int, kinds: frozenset[str]) -> list:
        """Settle a ``best`` group in the first walk one of its members gives in: each member is
        valued on the same state in money (points at their currency's rate) and only the one
        worth most applies, the higher priority on a tie. The discount walk values a member's
        points too (``_estimate``), so that a discount and points are weighed against each
        other and the loser gives nothing in either walk. Returns what the winner gives now."""
        later = (
            POINTS_PHASE
            if kinds == RECEIPT_PHASE and self.ctx.customer is not None
            else frozenset()
        )
        trials = []
        refused: list[tuple[PromotionRule, str, bool]] = []
        for i, member in enumerate(self.candidates):
            if member.group_id != group_id or not (_has(member, kinds) or _has(member, later)):
                continue
            now = self._try(member, i, kinds, set()) if _has(member, kinds) else None
            then = self._estimate(member, i, later, now) if _has(member, later) else None
            parts = [part for part in (now, then) if isinstance(part, list)]
            if parts:
                worth = sum((self._worth(part) for part in parts), ZERO)
                trials.append((worth, -i, i, member, now if isinstance(now, list) else []))
            else:  # refused; one with only points is tried again by the points walk if no winner
                why = now if isinstance(now, str) else then
                # neither is a list: the one tried (now, else then: the filter above) refused
                assert isinstance(why, str)
                refused.append((member, why, now is None))
        if not trials:
            self.blocked += [
                (member.id, why) for member, why, later_only in refused if not later_only
            ]
            return []
        trials.sort(key=lambda t: (t[0], t[1]), reverse=True)
        _worth, _neg, i, winner, trial = trials[0]
        self.best_of[group_id] = winner.id
        self.blocked += [(member.id, why) for member, why, _later_only in refused]
        for _w, _n, _i, loser, _t in trials[1:]:
            self.blocked.append((loser.id, f"lost_in_group_best:{winner.id}"))
        return self._apply(winner, i, trial) if trial else []

    def _estimate(self, promotion, index, kinds: frozenset[str], before):
        """What the promotion's rewards of the points walk would give, tried during the
        discount walk: on what is left to pay after the discounts so far and its own
        (``before``), before any points are spent. Changes nothing."""
        own: dict[int, Decimal] = {}
        for reward, per_line in before if isinstance(before, list) else []:
            if reward.kind in DISCOUNTS:
                for no, part in per_line.items():
                    own[no] = own.get(no, ZERO) + part
        saved = [(line, line.to_pay) for line in self.lines]
        for line in self.lines:
            line.to_pay = line.amount - line.discount - own.get(line.line_no, ZERO)
        try:
            return self._try(promotion, index, kinds, set())
        finally:
            for line, to_pay in saved:
                line.to_pay = to_pay

    def anonymous(self, kinds: frozenset[str]) -> list:
        for promotion in self.candidates:
            if _has(promotion, kinds) or _has(promotion, frozenset([MULTIPLIER])):
                self.blocked.append((promotion.id, "anonymous_customer"))
        return []

    def multipliers(self, awards: list[Award]) -> list[Award]:
        """``points_multiplier`` rewards: (factor - 1) times the points of their target."""
        extra = []
        for index, promotion in enumerate(self.candidates):
            rewards = [r for r in promotion.rewards if r.kind == MULTIPLIER]
            if not rewards:
                continue
            reason = self._refused(promotion)
            if reason is not None:
                self.blocked.append((promotion.id, reason))
                continue
            trial = []
            for reward in rewards:
                targets = [a for a in awards if a.promotion_id == reward.multiplier_of]
                if not targets:
                    self.blocked.append((promotion.id, f"target_not_fired:{reward.multiplier_of}"))
                    continue
                assert reward.currency_id is not None  # points have a currency (a constraint)
                currency = self.snapshot.currencies[reward.currency_id]
                for target in targets:
                    allowed = {
                        no: part
                        for no, part in target.per_line.items()
                        if self.exclusive_at.get(no, index) >= index
                        and (
                            reward.product_set is None
                            or reward.product_set.matches(self.inputs[no])
                        )
                    }
                    base = sum(allowed.values(), ZERO)
                    amount = quantize(base * (reward.value - 1), currency.decimal_places)
                    if amount <= 0:
                        continue
                    nos = list(allowed)
                    parts = allocate(amount, [allowed[no] for no in nos], currency.decimal_places)
                    trial.append((reward, dict(zip(nos, parts, strict=True))))
            capped = self._capped(promotion, trial)
            if isinstance(capped, str):
                if trial:
                    self.blocked.append((promotion.id, capped))
                continue
            for reward, per_line in capped:
                extra.append(self._award(promotion, reward, sum(per_line.values(), ZERO), per_line))
                self._count(promotion, reward, per_line)
                self._fire(promotion, index, list(per_line))
        return extra

    # -- one promotion ---------------------------------------------------------------------

    def _refused(self, promotion: PromotionRule) -> str | None:
        """Why the promotion cannot apply to this receipt at all, or None."""
        customer = self.ctx.customer
        if promotion.is_exchange and customer is None:
            return "anonymous_customer"
        if promotion.limited:
            reason = self._over_limit(promotion)
            if reason is not None:
                return reason
        if promotion.tier_ids and (customer is None or customer.tier_id not in promotion.tier_ids):
            return "audience"
        if promotion.narrowed:
            reason = self._audience(promotion)
            if reason is not None:
                return reason
        if promotion.conditions and not self._conditions_hold(promotion):
            return "conditions_not_met"
        if promotion.is_exchange and promotion.id not in self.exchanged:
            currency_id, cost = promotion.exchange_currency_id, promotion.exchange_cost
            assert currency_id is not None  # an exchange has a price in a currency
            assert cost is not None
            if self._exchange_left(currency_id) < cost:
                return "not_enough_chips"
        return None

    def _exchange_left(self, currency_id: int) -> Decimal:
        """Points of a currency the customer can still pay exchanges with on this receipt:
        what they hold, less the exchanges already paid for and, in the main currency, the
        points spent on the receipt."""
        left = self.ctx.exchange_available.get(currency_id, ZERO)
        left -= self.reserved.get(currency_id, ZERO)
        if currency_id == self.programme.main_currency_id:
            left -= self.spent_main
        return left

    def _audience(self, promotion: PromotionRule) -> str | None:
        """Segments, card series and types, new and referred customers, a customer's date."""
        customer = self.ctx.customer
        if promotion.segment_ids and (
            customer is None or not customer.segment_ids & promotion.segment_ids
        ):
            return "audience_segment"
        if promotion.card_batch_ids and (
            customer is None or customer.card_batch_id not in promotion.card_batch_ids
        ):
            return "audience_card"
        if promotion.card_types and (
            customer is None or customer.card_type not in promotion.card_types
        ):
            return "audience_card"
        if promotion.new_within_days is not None:
            joined = customer.registered_at if customer is not None else None
            if joined is None or self.ctx.at - joined > timedelta(days=promotion.new_within_days):
                return "audience_new"
        if promotion.referred_only and (customer is None or not customer.referred):
            return "audience_referred"
        if promotion.around_date and not self._around_date(promotion):
            return "outside_dates"
        return None

    def _around_date(self, promotion: PromotionRule) -> bool:
        customer = self.ctx.customer
        if customer is None:
            return False
        kind = promotion.around_date
        if kind == "birthday":
            anchors = [customer.birth_date] if customer.birth_date else []
        elif kind == "registration":
            anchors = [customer.registered_at.date()] if customer.registered_at else []
        else:
            anchors = [day for found, day in customer.dates if found == kind]
        return any(
            near_date(self.ctx.local_date, anchor, promotion.days_before, promotion.days_after)
            for anchor in anchors
        )

    def _over_limit(self, promotion: PromotionRule) -> str | None:
        usage = self.ctx.usage.get(promotion.id, NO_USAGE)
        per_customer = (promotion.uses_per_customer, promotion.uses_per_customer_day)
        if self.ctx.customer is None and any(limit is not None for limit in per_customer):
            return "limit_needs_customer"
        if promotion.uses_per_customer is not None:
            if usage.customer_uses >= promotion.uses_per_customer:
                return "limit_per_customer"
        if promotion.uses_per_customer_day is not None:
            if usage.customer_day_uses >= promotion.uses_per_customer_day:
                return "limit_per_customer_day"
        if promotion.uses_per_day is not None and usage.day_uses >= promotion.uses_per_day:
            return "limit_per_day"
        if promotion.budget is not None:
            if usage.given + self.given.get(promotion.id, ZERO) >= promotion.budget:
                return "budget_spent"
        return None

    def _room(self, promotion: PromotionRule) -> tuple[Decimal, str] | None:
        """How much more worth the promotion may give on this receipt, and the reason when it
        may give nothing; None: no cap."""
        so_far = self.given.get(promotion.id, ZERO)
        caps = []
        if promotion.budget is not None:
            usage = self.ctx.usage.get(promotion.id, NO_USAGE)
            caps.append((promotion.budget - usage.given - so_far, "budget_spent"))
        if promotion.max_per_receipt is not None:
            caps.append((promotion.max_per_receipt - so_far, "limit_per_receipt"))
        return min(caps) if caps else None

    def _capped(self, promotion: PromotionRule, trial: list):
        """``trial`` cut down to the promotion's budget left and its cap per receipt, reward by
        reward in their order; the reason when nothing is left."""
        room = self._room(promotion)
        if room is None or not trial:
            return trial
        left, reason = room
        capped = []
        for reward, per_line in trial:
            if left <= 0 and reward.kind not in NO_LINES:
                continue
            amount = sum(per_line.values(), ZERO)
            worth = self._worth_of(reward, amount)
            if worth > left:
                if reward.is_points:
                    currency = self.snapshot.currencies[reward.currency_id]
                    unit = Decimal(1).scaleb(-currency.decimal_places)
                    points = (left / currency.rub_rate).quantize(unit, rounding=ROUND_DOWN)
                    while points > 0 and quantize(points * currency.rub_rate) > left:
                        points -= unit
                    per_line = _spread(points, list(per_line), per_line, currency.decimal_places)
                    worth = self._worth_of(reward, points)
                else:
                    per_line = _spread(left, list(per_line), per_line)
                    worth = left
                per_line = {no: part for no, part in per_line.items() if part}
            if per_line or reward.kind in NO_LINES:
                capped.append((reward, per_line))
                left -= worth
        return capped or reason

    def _worth_of(self, reward, amount: Decimal) -> Decimal:
        """What a reward is worth to the budget: money for a discount, points at their rate."""
        if reward.is_points:
            return quantize(amount * self.snapshot.currencies[reward.currency_id].rub_rate)
        return amount

    def _count(self, promotion, reward, per_line) -> None:
        worth = self._worth_of(reward, sum(per_line.values(), ZERO))
        self.given[promotion.id] = self.given.get(promotion.id, ZERO) + worth

    def _conditions_hold(self, promotion: PromotionRule) -> bool:
        groups: dict[int, bool] = {}
        for condition in promotion.conditions:
            holds = groups.get(condition.or_group, True) and self._holds(condition)
            groups[condition.or_group] = holds
        return any(groups.values())

    def _holds(self, condition) -> bool:
        kind = condition.kind
        if kind == "promotion_done":
            customer = self.ctx.customer
            done = customer is not None and condition.promotion_id in customer.done_promotion_ids
            return not done if condition.operator == "lt" else done
        if kind == "customer_tier":
            customer = self.ctx.customer
            return customer is not None and customer.tier_id in condition.tier_ids
        if kind == "receipt_total":
            value = sum((line.amount - line.discount for line in self.lines), ZERO)
            return _compare(value, condition.operator, condition.amount)
        if kind == "line_count":
            return _compare(Decimal(len(self.lines)), condition.operator, condition.quantity)
        if kind == "contains":
            matching = self._matching(condition.product_set)
            if condition.amount is not None:
                value = sum((line.amount - line.discount for line in matching), ZERO)
                return _compare(value, condition.operator, condition.amount)
            quantity = sum((self.inputs[line.line_no].quantity for line in matching), ZERO)
            return _compare(quantity, condition.operator, condition.quantity or Decimal(1))
        if kind == "line":
            for line in self._matching(condition.product_set):
                if condition.amount is not None:
                    value, threshold = line.amount - line.discount, condition.amount
                else:
                    value, threshold = self.inputs[line.line_no].quantity, condition.quantity
                if _compare(value, condition.operator, threshold):
                    return True
            return False
        if kind in ("counter_value", "nth_purchase"):
            if self.ctx.customer is None or condition.counter_id not in self.counter_rules:
                return False
            before = self.ctx.customer.counters.get(condition.counter_id, ZERO)
            step = self._counter_step_now(condition.counter_id)
            value = before + step
            if kind == "counter_value":
                return _compare(value, condition.operator, condition.quantity)
            every = condition.quantity
            return step > 0 and every > 0 and value // every > before // every
        return False

    def _counter_step_now(self, counter_id: int) -> Decimal:
        """What this receipt adds to a counter at this point of the walk: its own step
        (purchases: 1, units, or the money left to pay) and the steps promotions gave."""
        counter = self.counter_rules[counter_id]
        if self.occasion:
            own = ZERO
        elif counter.unit == "purchases":
            own = Decimal(1)
        elif counter.unit == "quantity":
            own = sum((x.quantity for x in self.ctx.lines if not x.gift_card), ZERO)
        elif counter.unit == "amount":
            own = sum((line.amount - line.discount for line in self.lines), ZERO)
        else:
            own = ZERO
        return own + self.stepped.get(counter_id, ZERO)

    def _try(self, promotion, index, kinds, group_taken: set[int]):
        """What the promotion would give now (reward, per-line amounts), or why it gives
        nothing. Changes nothing."""
        reason = self._refused(promotion)
        if reason is not None:
            return reason
        open_lines = [
            line
            for line in self.lines
            if line.line_no not in group_taken
            and self.exclusive_at.get(line.line_no, index) >= index
        ]
        if not open_lines:
            return "lost_in_group_first" if group_taken else "blocked_by_exclusive"
        open_nos = {line.line_no for line in open_lines}
        given: list[tuple[RewardRule, dict[int, Decimal]]] = []
        room = self._discount_room()
        pending: dict[int, Decimal] = {}  # what this promotion's earlier rewards took per line
        anonymous_only = False
        favourites_missed = False  # a favourites-only reward found lines, none a favourite
        below_bands = False  # a banded reward's measure fell in none of its bands
        for reward in promotion.rewards:
            if reward.kind not in kinds:
                continue
            eligible = [
                line for line in self._matching(reward.product_set) if line.line_no in open_nos
            ]
            if reward.min_line_quantity is not None:
                eligible = [
                    line
                    for line in eligible
                    if self.inputs[line.line_no].quantity >= reward.min_line_quantity
                ]
            if reward.favourites_only and eligible:
                eligible = self._favourites(eligible)
                favourites_missed = favourites_missed or not eligible
            if not eligible:
                continue
            if reward.beneficiary == "referrer" and (
                self.ctx.customer is None or not self.ctx.customer.referred
            ):
                continue  # nobody referred the customer: no friend to reward
            if reward.bands:  # the value of the band the sale falls in (engine.bands)
                measure = band_measure(reward, self.lines, eligible, self.inputs, self.ctx.customer)
                found = banded(reward, measure)
                if found is None:  # below the first band, or the customer's spend unknown
                    anonymous_only = anonymous_only or measure is None
                    below_bands = below_bands or measure is not None
                    continue
                reward = found
            if reward.kind in NO_LINES:
                if self.ctx.customer is None:
                    anonymous_only = True
                elif reward.kind == COUNTER_STEP and reward.counter_id not in self.counter_rules:
                    continue
                elif reward.kind == TIER and not self._moves_up(reward.tier_id):
                    continue
                else:
                    given.append((reward, {}))
                continue
            if reward.is_points and reward.expires_on and reward.expires_on < self.ctx.local_date:
                continue
            if reward.kind in DISCOUNTS:
                per_line = self._discount(reward, eligible, room, pending)
                room -= sum(per_line.values(), ZERO)
                for no, part in per_line.items():
                    pending[no] = pending.get(no, ZERO) + part
            else:
                per_line = self._points(reward, eligible)
            if any(per_line.values()):
                given.append((reward, {no: v for no, v in per_line.items() if v}))
        if not given:
            if anonymous_only:
                return "anonymous_customer"
            if favourites_missed:
                return "no_favourites" if self.ctx.customer is not None else "favourites_anonymous"
            return "below_bands" if below_bands else "nothing_to_give"
        return self._capped(promotion, given)

    def _favourites(self, lines: list[LineResult]) -> list[LineResult]:
        """The ``lines`` of the customer's favourite products (none without a customer)."""
        customer = self.ctx.customer
        if customer is None or not customer.favourite_product_ids:
            return []
        favourites = customer.favourite_product_ids
        return [line for line in lines if self.inputs[line.line_no].product_id in favourites]

    def _moves_up(self, tier_id: int | None) -> bool:
        """Whether a tier of the receipt's programme is above the customer's tier."""
        tiers = self.snapshot.tier_by_id
        target = tiers.get(tier_id) if tier_id is not None else None
        if target is None or target.programme_id != self.ctx.programme_id:
            return False
        customer = self.ctx.customer
        assert customer is not None  # _try asks only with a customer
        current = tiers.get(customer.tier_id) if customer.tier_id is not None else None
        return current is None or target.rank > current.rank

    def _worth(self, trial) -> Decimal:
        worth = ZERO
        for reward, per_line in trial:
            amount = sum(per_line.values(), ZERO)
            if reward.is_points:
                worth += amount * self.snapshot.currencies[reward.currency_id].rub_rate
            else:
                worth += amount
        return worth

    def _apply(self, promotion, index, trial) -> list:
        results: list[Award | DiscountAward] = []
        touched: list[int] = []
        discount_lines: dict[int, Decimal] = {}
        by_no = {line.line_no: line for line in self.lines}
        for reward, per_line in trial:
            touched += list(per_line)
            self._count(promotion, reward, per_line)
            if reward.band_index is not None:
                self.band_hits.append(band_hit(promotion.id, reward, sum(per_line.values(), ZERO)))
            if reward.kind == COUNTER_STEP:
                counter = self.counter_rules[reward.counter_id]
                self.steps.append(
                    CounterStep(
                        counter.id,
                        period_start(counter.period, self.ctx.local_date),
                        reward.value,
                        promotion_id=promotion.id,
                    )
                )
                self.stepped[counter.id] = self.stepped.get(counter.id, ZERO) + reward.value
            elif reward.kind == COUPON:
                self.coupons.append(
                    CouponAward(promotion.id, reward.coupon_series, max(int(reward.value), 1))
                )
            elif reward.kind == TIER:
                self.tier_awards.append(TierAward(promotion.id, reward.tier_id))
            elif reward.kind in DISCOUNTS:
                for no, part in per_line.items():
                    by_no[no].discount += part
                    discount_lines[no] = discount_lines.get(no, ZERO) + part
            else:
                amount = sum(per_line.values(), ZERO)
                results.append(self._award(promotion, reward, amount, per_line))
        if discount_lines:
            results.insert(
                0,
                DiscountAward(
                    promotion_id=promotion.id,
                    name=promotion.name,
                    amount=sum(discount_lines.values(), ZERO),
                    per_line=discount_lines,
                ),
            )
        self._fire(promotion, index, touched)
        return results

    def _fire(self, promotion, index, touched) -> None:
        if promotion.is_exchange:
            self.exchange_lines.setdefault(promotion.id, set()).update(touched)
            if promotion.id not in self.exchanged:  # paid for once, whatever it gives
                self.exchanged.add(promotion.id)
                currency = promotion.exchange_currency_id
                self.reserved[currency] = self.reserved.get(currency, ZERO) + (
                    promotion.exchange_cost
                )
        if promotion.exclusive:
            for no in touched:
                self.exclusive_at.setdefault(no, index)
        if promotion.id not in self.fired:
            self.fired.add(promotion.id)
            if promotion.cashier_message:
                self.messages.append(promotion.cashier_message)

    def _award(self, promotion, reward, amount, per_line) -> Award:
        return Award(
            promotion_id=promotion.id,
            reward_id=reward.id,
            name=promotion.name,
            currency_id=reward.currency_id,
            amount=amount,
            per_line=per_line,
            activation_delay=reward.activation_delay,
            lifetime=reward.lifetime,
            expires_on=reward.expires_on,
            spend_rule_id=reward.spend_rule_id,
            beneficiary=reward.beneficiary,
        )

    # -- amounts ---------------------------------------------------------------------------

    def _discount_room(self) -> Decimal:
        """How much more discount the receipt takes: what is left to pay above the programme's
        minimum money payment."""
        left = sum((line.amount - line.discount for line in self.lines), ZERO)
        return max(left - self.programme.min_money_payment, ZERO)

    def _discount(self, reward, eligible, room: Decimal, pending) -> dict[int, Decimal]:
        current = {
            line.line_no: line.amount - line.discount - pending.get(line.line_no, ZERO)
            for line in eligible
        }
        nos = list(current)
        if reward.kind == "discount_per_unit" or (
            reward.max_units is not None and reward.kind in PER_UNIT
        ):
            wanted = {no: part for no, part in self._per_unit(reward, nos, current).items() if part}
            amount = sum(wanted.values(), ZERO)
            return wanted if amount <= room else _spread(room, list(wanted), wanted)
        if reward.kind == "discount_percent":
            amount = quantize(sum(current.values(), ZERO) * reward.value / HUNDRED)
            return _spread(min(amount, room), nos, current)
        if reward.kind == "discount_fixed":
            amount = min(quantize(reward.value), sum(current.values(), ZERO))
            return _spread(min(amount, room), nos, current)
        if reward.kind == "special_price":
            wanted = {
                no: max(current[no] - quantize(reward.value * self.inputs[no].quantity), ZERO)
                for no in nos
            }
        elif reward.kind == "every_nth":
            wanted = self._every_nth(reward, nos, current)
        elif reward.kind == "bundle_price":
            wanted = self._bundle(reward, nos, current)
        else:
            return {}
        amount = sum(wanted.values(), ZERO)
        if amount <= room:
            return wanted
        return _spread(room, list(wanted), wanted)

    def _every_nth(self, reward, nos, current) -> dict[int, Decimal]:
        """Every Nth unit of the eligible lines, the cheapest first, at the reward's percent off.
        Weighted goods (a fractional quantity) never count as units."""
        units = []
        for position, no in enumerate(nos):
            quantity = self.inputs[no].quantity
            if quantity != quantity.to_integral_value() or quantity <= 0:
                continue
            unit_price = current[no] / quantity
            units += [(unit_price, position, no)] * int(quantity)
        units.sort()
        free = units[: len(units) // reward.every_n]
        if reward.max_units is not None:  # the cheapest of them
            free = free[: reward.max_units]
        counts: dict[int, int] = {}
        for _price, _position, no in free:
            counts[no] = counts.get(no, 0) + 1
        wanted = {}
        for no in nos:
            if no in counts:
                unit_price = current[no] / self.inputs[no].quantity
                wanted[no] = min(
                    quantize(unit_price * counts[no] * reward.value / HUNDRED), current[no]
                )
        return wanted

    def _per_unit(self, reward, nos, current) -> dict[int, Decimal]:
        """A discount on units: a percent, a special price or a fixed amount off each unit, on
        every unit of the lines, or on the ``max_units`` cheapest (``_units_rewarded``). A
        line never goes below zero."""
        quantities = {no: self.inputs[no].quantity for no in nos}
        if reward.max_units is not None:
            quantities = _units_rewarded(nos, current, quantities, reward.max_units)
        base = {  # the part of each line's amount left that the rewarded units make
            no: current[no]
            if q == self.inputs[no].quantity
            else current[no] * q / self.inputs[no].quantity
            for no, q in quantities.items()
        }
        if reward.kind == "discount_percent":
            amount = quantize(sum(base.values(), ZERO) * reward.value / HUNDRED)
            return _spread(amount, list(base), base)
        if reward.kind == "special_price":
            return {
                no: max(quantize(base[no]) - quantize(reward.value * q), ZERO)
                for no, q in quantities.items()
            }
        return {  # discount_per_unit
            no: min(quantize(reward.value * q), quantize(base[no])) for no, q in quantities.items()
        }

    def _bundle(self, reward, nos, current) -> dict[int, Decimal]:
        """Sets of ``every_n`` units at the reward's price for the set ("3 for 99.00"). The
        eligible units are pooled and sorted as for every Nth unit (cheapest first, ties to
        the earlier line) and grouped in that order: the N cheapest make the first set, the
        next N the second, and so on; the units left over (fewer than N, or beyond
        ``max_units``) keep their price. A set's discount is what its units cost above the
        set's price (nothing when they cost less), rounded half-up once, and is spread over
        the set's lines in proportion to what its units cost on each (largest remainder).
        Weighted goods (a fractional quantity) never count as units."""
        size = reward.every_n or 0
        if size < 1:
            return {}
        unit = {}
        runs = []
        for position, no in enumerate(nos):
            quantity = self.inputs[no].quantity
            if quantity != quantity.to_integral_value() or quantity <= 0:
                continue
            unit[no] = current[no] / quantity
            runs.append((unit[no], position, no, int(quantity)))
        runs.sort()
        sets = sum(run[3] for run in runs) // size
        if reward.max_units is not None:
            sets = min(sets, reward.max_units // size)
        price = quantize(reward.value)
        wanted: dict[int, Decimal] = {}
        members: dict[int, int] = {}  # the set being filled: line number -> its units in it
        for _price, _position, no, count in runs:
            while count > 0 and sets > 0:
                if not members and count >= size:  # whole sets of this line's units alone
                    whole = min(count // size, sets)
                    off = max(quantize(unit[no] * size - price), ZERO)
                    wanted[no] = wanted.get(no, ZERO) + off * whole
                    count -= whole * size
                    sets -= whole
                    continue
                take = min(count, size - sum(members.values()))
                members[no] = members.get(no, 0) + take
                count -= take
                if sum(members.values()) == size:
                    costs = [unit[member] * units for member, units in members.items()]
                    off = max(quantize(sum(costs, ZERO) - price), ZERO)
                    if off:
                        for member, part in zip(members, allocate(off, costs), strict=True):
                            wanted[member] = wanted.get(member, ZERO) + part
                    members = {}
                    sets -= 1
        return {no: min(part, current[no]) for no, part in wanted.items() if part}

    def _points(self, reward, eligible) -> dict[int, Decimal]:
        currency = self.snapshot.currencies[reward.currency_id]
        places = currency.decimal_places
        nos = [line.line_no for line in eligible]
        if self.programme.certificates_earn:
            weights = {line.line_no: line.to_pay for line in eligible}
        else:  # the part paid with gift certificates earns nothing
            weights = {line.line_no: line.to_pay - line.certificate_paid for line in eligible}
        if reward.max_units is not None and reward.kind == "points_percent":
            quantities = {no: self.inputs[no].quantity for no in nos}
            rewarded = _units_rewarded(nos, weights, quantities, reward.max_units)
            nos = [no for no in nos if no in rewarded]
            weights = {no: weights[no] * rewarded[no] / quantities[no] for no in nos}
        if reward.kind == "points_percent":
            amount = quantize(sum(weights.values(), ZERO) * reward.value / HUNDRED, places)
        elif reward.kind == "points_fixed":
            amount = quantize(reward.value, places)
            if not any(weights.values()):
                weights = {line.line_no: line.amount for line in eligible}
            if not any(weights.values()):
                weights = {no: Decimal(int(i == 0)) for i, no in enumerate(nos)}
        else:
            return {}
        if amount <= 0:
            return {}
        return _spread(amount, nos, weights, places)


def occasion_refusal(
    snapshot: RulesSnapshot, promotion: PromotionRule, ctx: ReceiptContext
) -> str | None:
    """Why a promotion started by an occasion of the customer's life does not reward the
    customer of ``ctx`` (a context without lines): its status, period, scope, audience,
    limits or customer conditions; None when it does. The same checks as on a receipt."""
    reason = _out_of_scope(promotion, ctx)
    if reason is not None:
        return reason
    walk = _Walk(snapshot, ctx, snapshot.programmes[ctx.programme_id], [])
    walk.occasion = True
    return walk._refused(promotion)


def _has(promotion: PromotionRule, kinds: frozenset[str]) -> bool:
    return any(reward.kind in kinds for reward in promotion.rewards)


def _touched(trial) -> set[int]:
    return {no for _reward, per_line in trial for no in per_line}


def _spread(amount: Decimal, nos, weights: dict, places: int = 2) -> dict[int, Decimal]:
    """``amount`` over the lines ``nos`` in proportion to ``weights`` (largest remainder)."""
    if amount <= 0 or not nos or not any(weights[no] for no in nos):
        return {}
    parts = allocate(amount, [weights[no] for no in nos], places)
    return dict(zip(nos, parts, strict=True))


def _units_rewarded(nos, amounts: dict, quantities: dict, limit: int) -> dict[int, Decimal]:
    """At most ``limit`` units of the lines ``nos``, the cheapest first (by their line's
    ``amounts`` per unit; ties to the earlier line): line number -> the quantity rewarded. A
    line of weighted goods (a fractional quantity) counts as one unit of its whole quantity."""
    runs = []
    for position, no in enumerate(nos):
        quantity = quantities[no]
        if quantity <= 0:
            continue
        if quantity == quantity.to_integral_value():
            runs.append((amounts[no] / quantity, position, no, int(quantity), Decimal(1)))
        else:
            runs.append((amounts[no], position, no, 1, quantity))
    runs.sort(key=lambda run: run[:2])
    taken: dict[int, Decimal] = {}
    left = limit
    for _price, _position, no, count, size in runs:
        if left <= 0:
            break
        units = min(count, left)
        taken[no] = size * units
        left -= units
    return taken


def _compare(value: Decimal, operator: str, threshold: Decimal | None) -> bool:
    if threshold is None:
        return False
    return value < threshold if operator == "lt" else value >= threshold


def in_scope(promotion: PromotionRule, ctx: ReceiptContext) -> bool:
    """Whether the promotion's programme, partner, status, period, stores, channels, days
    and hours admit the sale (its audience and conditions are not looked at)."""
    return _out_of_scope(promotion, ctx) is None


def _out_of_scope(promotion: PromotionRule, ctx: ReceiptContext) -> str | None:
    if promotion.programme_id != ctx.programme_id:
        return "other_programme"
    if promotion.is_exchange and promotion.code not in ctx.exchanges:
        return "exchange_not_asked"
    if promotion.coupon_series_id is not None and not (
        promotion.coupon_series_id in ctx.coupon_series or promotion.id in ctx.coupon_prizes
    ):
        return "coupon_not_presented"
    if promotion.partner_id is not None and promotion.partner_id != ctx.partner_id:
        return "other_partner"
    if promotion.status != "active":
        return "not_active"
    if ctx.at < promotion.starts_at or (promotion.ends_at and ctx.at >= promotion.ends_at):
        return "outside_period"
    if promotion.store_ids and ctx.store_id not in promotion.store_ids:
        return "other_store"
    if promotion.terminal_ids and ctx.terminal_id not in promotion.terminal_ids:
        return "other_terminal"
    if promotion.channels and ctx.channel not in promotion.channels:
        return "other_channel"
    if promotion.weekdays and ctx.local_date.isoweekday() not in promotion.weekdays:
        return "other_weekday"
    if not _inside_hours(promotion.time_from, promotion.time_to, ctx):
        return "outside_hours"
    return None


def _inside_hours(start, end, ctx: ReceiptContext) -> bool:
    """Whether the sale's time on the store's clock is in [start, end) (either may be None;
    a window such as 22:00-02:00 crosses midnight)."""
    if start is None and end is None:
        return True
    moment = ctx.local_time or ctx.at.time()
    if start is not None and end is not None and start > end:
        return moment >= start or moment < end
    return (start is None or moment >= start) and (end is None or moment < end)


def _spend(snapshot, programme, currency, ctx: ReceiptContext, walk, payable: Decimal):
    """Debit points within the programme's redemption rules: first the restricted points
    whose spending rules admit this receipt (each on its own lines and within its own cap),
    then the unrestricted ones. Spreads the money they pay and the points over the lines;
    returns the points debited by spending rule (None: unrestricted)."""
    if ctx.spend_requested in (None, ZERO) or currency.rub_rate <= 0 or payable <= 0:
        return {}
    percent = (
        currency.max_spend_percent
        if currency.max_spend_percent is not None
        else programme.max_spend_percent
    )
    left = min(_percent_down(payable, percent), payable - programme.min_money_payment)
    if left <= 0:
        return {}
    unit = Decimal(1).scaleb(-currency.decimal_places)
    wanted = None if ctx.spend_requested == SPEND_MAX else Decimal(ctx.spend_requested)
    sources: list[tuple[int | None, Decimal]] = []
    if not ctx.offline:
        sources += [
            (rule_id, points)
            for rule_id, points in sorted(ctx.restricted_available.items())
            if points > 0 and rule_id in snapshot.spend_rules
        ]
    unrestricted = programme.offline_spend_cap if ctx.offline else ctx.points_available
    reserved = walk.reserved.get(currency.id, ZERO)  # exchanges paid in this currency
    if reserved > 0:
        unrestricted -= reserved
        for n, (rule_id, points) in enumerate(sources):  # what they take beyond, from these
            if unrestricted >= 0:
                break
            take = min(points, -unrestricted)
            sources[n] = (rule_id, points - take)
            unrestricted += take
    sources.append((None, max(unrestricted, ZERO)))
    spent: dict[int | None, Decimal] = {}
    for rule_id, available in sources:
        if left <= 0 or (wanted is not None and wanted <= 0):
            break
        if rule_id is None:
            eligible, room = walk.lines, left
        else:
            rule = snapshot.spend_rules[rule_id]
            if not _admits(rule, ctx, payable):
                continue
            eligible = walk._matching(rule.product_set)
            open_money = sum((x.amount - x.discount - x.points_spent for x in eligible), ZERO)
            room = min(left, open_money)
            if rule.max_percent is not None:
                room = min(room, _percent_down(payable, rule.max_percent))
        if room <= 0:
            continue
        points = min(
            (room / currency.rub_rate).quantize(unit, rounding=ROUND_DOWN), max(available, ZERO)
        )
        if wanted is not None:
            points = min(points, wanted)
        points = points.quantize(unit, rounding=ROUND_DOWN)
        while points > 0 and quantize(points * currency.rub_rate) > room:
            points -= unit
        if points <= 0:
            continue
        money = quantize(points * currency.rub_rate)
        weights = [x.amount - x.discount - x.points_spent for x in eligible]
        parts = allocate(money, weights)
        for line, part in zip(eligible, parts, strict=True):
            line.points_spent += part
        for line, part in zip(
            eligible, allocate(points, parts, currency.decimal_places), strict=True
        ):
            line.spent_points += part
        spent[rule_id] = points
        left -= money
        if wanted is not None:
            wanted -= points
    return spent


def _spend_in_blocks(snapshot, programme, currency, ctx, walk, payable, spent):
    """Points spent in whole blocks of the currency's ``spend_block`` only ("in hundreds"):
    the spend ``_spend`` found is rounded down to a multiple of the block and spent again, as
    if the customer had asked for that many points (so the restricted points still go
    first). The cashier is told when the blocks cut the spend down."""
    block = Decimal(currency.spend_block)
    found = total = sum(spent.values(), ZERO)
    while total % block:
        for line in walk.lines:  # nothing else has spent on the lines yet
            line.points_spent = Decimal("0.00")
            line.spent_points = Decimal("0")
        target = total - total % block
        if target <= 0:
            spent, total = {}, ZERO
            break
        asked = replace(ctx, spend_requested=target)
        spent = _spend(snapshot, programme, currency, asked, walk, payable)
        total = sum(spent.values(), ZERO)
    if total < found and currency.spend_block_note:
        walk.messages.append(
            str(currency.spend_block_note)
            % {"block": currency.spend_block, "spent": format(total.normalize(), "f")}
        )
    return spent


# What the register is told when an exchange it asked for is not applied (pos-integration.md).
EXCHANGE_SCOPE = frozenset(
    [
        "other_partner",
        "not_active",
        "outside_period",
        "other_store",
        "other_terminal",
        "other_channel",
        "other_weekday",
        "outside_hours",
    ]
)
EXCHANGE_REASONS = {
    "anonymous_customer": "no_customer",
    "limit_needs_customer": "no_customer",
    "not_enough_chips": "not_enough_chips",
    "nothing_to_give": "nothing_to_give",
    "budget_spent": "limit_reached",
    "limit_per_receipt": "limit_reached",
    "limit_per_customer": "limit_reached",
    "limit_per_customer_day": "limit_reached",
    "limit_per_day": "limit_reached",
}


def _exchange_outcomes(snapshot, ctx: ReceiptContext, walk: _Walk) -> list[ExchangeOutcome]:
    """One outcome per code the register asked for, in its order."""
    reasons: dict[int, str] = {}
    for promotion_id, reason in walk.blocked:
        reasons.setdefault(promotion_id, reason)  # the first: where it stopped
    outcomes = []
    for code in ctx.exchanges:
        promotion = snapshot.exchanges.get((ctx.programme_id, code))
        if promotion is None:
            outcomes.append(ExchangeOutcome(code, "rejected", "unknown_exchange"))
            continue
        outcome = ExchangeOutcome(
            code,
            "applied",
            promotion_id=promotion.id,
            currency_id=promotion.exchange_currency_id,
            cost=promotion.exchange_cost,
        )
        if promotion.id in walk.exchanged:
            outcome.lines = tuple(sorted(walk.exchange_lines.get(promotion.id, ())))
        elif ctx.customer is None:
            outcome.status, outcome.reason = "rejected", "no_customer"
        else:
            why = reasons.get(promotion.id, "nothing_to_give")
            outcome.status = "rejected"
            outcome.reason = (
                "not_available"
                if why in EXCHANGE_SCOPE
                else EXCHANGE_REASONS.get(why, "conditions_not_met")
            )
        outcomes.append(outcome)
    return outcomes


def _percent_down(amount: Decimal, percent: Decimal) -> Decimal:
    return (amount * percent / HUNDRED).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def _admits(rule, ctx: ReceiptContext, payable: Decimal) -> bool:
    """Whether a spending rule lets its points pay for this receipt at all."""
    if rule.min_receipt is not None and payable < rule.min_receipt:
        return False
    if rule.store_ids and ctx.store_id not in rule.store_ids:
        return False
    return _inside_hours(rule.time_from, rule.time_to, ctx)


def near_date(day: date, anchor: date, before: int, after: int) -> bool:
    """Whether ``day`` is within ``before`` days before to ``after`` days after a yearly
    occurrence of ``anchor`` (29 February falls on 28 February in other years)."""
    for year in (day.year - 1, day.year, day.year + 1):
        try:
            occurrence = anchor.replace(year=year)
        except ValueError:
            occurrence = date(year, 2, 28)
        if occurrence - timedelta(days=before) <= day <= occurrence + timedelta(days=after):
            return True
    return False


def period_start(period: str, day: date) -> date:
    """The first day of the counter period that contains ``day``."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if period == "year":
        return day.replace(month=1, day=1)
    return date(1970, 1, 1)


def _counter_steps(snapshot: RulesSnapshot, ctx: ReceiptContext, to_pay: Decimal):
    steps = []
    for counter in snapshot.counters:
        if counter.programme_id != ctx.programme_id:
            continue
        if counter.unit == "purchases":
            delta = Decimal(1)
        elif counter.unit == "amount":
            delta = to_pay
        elif counter.unit == "quantity":
            delta = sum((x.quantity for x in ctx.lines if not x.gift_card), ZERO)
        else:
            continue
        if delta:
            steps.append(
                CounterStep(counter.id, period_start(counter.period, ctx.local_date), delta)
            )
    return steps
