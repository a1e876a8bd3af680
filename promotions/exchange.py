"""Promotions as a documented, versioned JSON document (docs/promotion-format.md).

``promotions_export`` writes promotions with the compatibility groups and product sets they
use; ``promotions_import`` reads such a document, checks every part of it first (references,
values, the models' own validation) and writes it in one transaction only when nothing is
wrong, so an error changes nothing. Everything is referred to by its natural key (programme,
partner, store, tier, currency and category codes, brand names, product SKUs), never by a
database id, so a document moves between environments and can come from an ERP.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime, parse_time
from django.utils.translation import gettext as _

from promotions.bands import bands_export, bands_read, first_band_value
from promotions.models import (
    CompatibilityGroup,
    Condition,
    ProductSet,
    Promotion,
    PromotionVersion,
    Reward,
    SpendRule,
)

FORMAT = "openloyalty.promotions"
VERSION = 1


class ImportFailed(Exception):
    """The document has errors; nothing was written. ``errors``: (path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors[:20]))


# --- Export ----------------------------------------------------------------------------------


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _product_key(product) -> dict:
    return {"sku": product.sku, "partner": product.partner.code if product.partner_id else None}


def product_set_data(product_set: ProductSet) -> dict:
    return {
        "name": product_set.name,
        "programme": product_set.programme.code,
        "partner": product_set.partner.code if product_set.partner_id else None,
        "products": [_product_key(p) for p in product_set.products.order_by("sku")],
        "categories": sorted(c.code for c in product_set.categories.all()),
        "brands": sorted(b.name for b in product_set.brands.all()),
        "lists": sorted(x.code for x in product_set.lists.all()),
        "excluded_products": [
            _product_key(p) for p in product_set.excluded_products.order_by("sku")
        ],
        "excluded_categories": sorted(c.code for c in product_set.excluded_categories.all()),
    }


def spend_rule_data(rule: SpendRule) -> dict:
    return {
        "name": rule.name,
        "programme": rule.programme.code,
        "product_set": rule.product_set.name if rule.product_set_id else None,
        "min_receipt": _dec(rule.min_receipt),
        "stores": sorted(store.code for store in rule.stores.all()),
        "time_from": rule.time_from.isoformat() if rule.time_from else None,
        "time_to": rule.time_to.isoformat() if rule.time_to else None,
        "max_percent": _dec(rule.max_percent),
    }


def group_data(group: CompatibilityGroup) -> dict:
    return {
        "name": group.name,
        "programme": group.programme.code,
        "mode": group.mode,
        "description": group.description,
    }


def promotion_data(promotion: Promotion) -> dict:
    """One promotion in the exchange format (also what a ``PromotionVersion`` keeps)."""
    return {
        "code": promotion.code,
        "programme": promotion.programme.code,
        "partner": promotion.partner.code if promotion.partner_id else None,
        "name": promotion.name,
        "description": promotion.description,
        "cashier_message": promotion.cashier_message,
        "customer_message": promotion.customer_message,
        "coupon_series": promotion.coupon_series.code if promotion.coupon_series_id else None,
        "status": promotion.status,
        "priority": promotion.priority,
        "group": promotion.group.name if promotion.group_id else None,
        "exclusive": promotion.exclusive,
        "stores": sorted(store.code for store in promotion.stores.all()),
        "terminals": sorted(terminal.code for terminal in promotion.terminals.all()),
        "channels": list(promotion.channels or []),
        "tiers": sorted(tier.code for tier in promotion.tiers.all()),
        "segments": sorted(segment.code for segment in promotion.segments.all()),
        "card_series": sorted(batch.code for batch in promotion.card_batches.all()),
        "card_types": list(promotion.card_types or []),
        "new_within_days": promotion.new_within_days,
        "referred_only": promotion.referred_only,
        "around_date": promotion.around_date or None,
        "days_before": promotion.days_before,
        "days_after": promotion.days_after,
        "starts_at": promotion.starts_at.isoformat(),
        "ends_at": promotion.ends_at.isoformat() if promotion.ends_at else None,
        "weekdays": list(promotion.weekdays or []),
        "time_from": promotion.time_from.isoformat() if promotion.time_from else None,
        "time_to": promotion.time_to.isoformat() if promotion.time_to else None,
        "budget": _dec(promotion.budget),
        "max_per_receipt": _dec(promotion.max_per_receipt),
        "uses_per_customer": promotion.uses_per_customer,
        "uses_per_customer_day": promotion.uses_per_customer_day,
        "uses_per_day": promotion.uses_per_day,
        "trigger": _trigger_data(promotion),
        "exchange_cost": _dec(promotion.exchange_cost),
        "exchange_currency": (
            promotion.exchange_currency.code if promotion.exchange_currency_id else None
        ),
        "conditions": [
            {
                "or_group": c.or_group,
                "kind": c.kind,
                "operator": c.operator,
                "amount": _dec(c.amount),
                "quantity": _dec(c.quantity),
                "product_set": c.product_set.name if c.product_set_id else None,
                "tiers": sorted(t.code for t in c.tiers.all()),
                "counter": c.counter.code if c.counter_id else None,
                "promotion": (c.done_promotion.code or c.done_promotion.name)
                if c.done_promotion_id
                else None,
            }
            for c in promotion.conditions.order_by("or_group", "pk")
        ],
        "rewards": [
            {
                "kind": r.kind,
                "value": _dec(r.value),
                "product_set": r.product_set.name if r.product_set_id else None,
                "favourites_only": r.favourites_only,
                "every_n": r.every_n,
                "multiplier_of": (r.multiplier_of.code or r.multiplier_of.name)
                if r.multiplier_of_id
                else None,
                "currency": r.currency.code if r.currency_id else None,
                "activation_delay_days": r.activation_delay_days,
                "lifetime_days": r.lifetime_days,
                "expires_on": r.expires_on.isoformat() if r.expires_on else None,
                "min_line_quantity": _dec(r.min_line_quantity),
                "counter": r.counter.code if r.counter_id else None,
                "coupon_series": r.coupon_series or None,
                "spend_rule": r.spend_rule.name if r.spend_rule_id else None,
                "beneficiary": r.beneficiary,
                "expires_days_after_date": r.expires_days_after_date,
                "expires_day_of_next_month": r.expires_day_of_next_month,
                "tier": r.tier.code if r.tier_id else None,
                "max_units": r.max_units,
                "band_basis": r.band_basis or None,
                "band_counter": r.band_counter.code if r.band_counter_id else None,
                "bands": bands_export(r.bands),
            }
            for r in promotion.rewards.order_by("pk")
        ],
    }


def _trigger_data(promotion: Promotion) -> dict | None:
    """What starts the promotion; None: a purchase (the receipt)."""
    if promotion.trigger == "receipt":
        return None
    return {
        "kind": promotion.trigger,
        "event_type": promotion.event_type.code if promotion.event_type_id else None,
        "counter": promotion.trigger_counter.code if promotion.trigger_counter_id else None,
        "value": _dec(promotion.trigger_value),
        "tier": promotion.trigger_tier.code if promotion.trigger_tier_id else None,
        "channel": promotion.trigger_channel or None,
        "date": promotion.trigger_date or None,
        "question": promotion.trigger_question.code if promotion.trigger_question_id else None,
        "offset_days": promotion.trigger_offset_days,
        "day": promotion.trigger_day,
    }


def promotions_export(promotions: Iterable[Promotion]) -> dict:
    promotions = list(promotions)
    groups = {p.group_id: p.group for p in promotions if p.group_id}
    sets: dict[int, ProductSet] = {}
    rules: dict[int, SpendRule] = {}
    for promotion in promotions:
        for row in [*promotion.conditions.all(), *promotion.rewards.all()]:
            if row.product_set_id:
                sets[row.product_set_id] = row.product_set
            rule = getattr(row, "spend_rule", None)
            if rule is not None:
                rules[rule.pk] = rule
                if rule.product_set_id:
                    sets[rule.product_set_id] = rule.product_set
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timezone.now().isoformat(),
        "groups": [group_data(g) for g in sorted(groups.values(), key=lambda g: g.name)],
        "product_sets": [product_set_data(s) for s in sorted(sets.values(), key=lambda s: s.name)],
        "spend_rules": [spend_rule_data(r) for r in sorted(rules.values(), key=lambda r: r.name)],
        "promotions": [promotion_data(p) for p in promotions],
    }


def version_record(promotion: Promotion, *, user=None, source: str) -> PromotionVersion:
    """Keep the promotion as it is now as its next version."""
    last = promotion.versions.order_by("-number").values_list("number", flat=True).first() or 0
    return PromotionVersion.objects.create(
        promotion=promotion,
        number=last + 1,
        user=user if getattr(user, "pk", None) else None,
        source=source,
        data=promotion_data(promotion),
    )


# --- Import ----------------------------------------------------------------------------------


class _Reader:
    """Resolves natural keys and collects every error with its path in the document."""

    def __init__(self):
        from crm.models import ProfileQuestion, Segment
        from loyalty.models import (
            Brand,
            CardBatch,
            Category,
            Counter,
            Currency,
            EventType,
            Partner,
            Product,
            ProductList,
            Programme,
            Store,
            Terminal,
            Tier,
        )

        self.errors: list[tuple[str, str]] = []
        self.programmes = {p.code: p for p in Programme.objects.all()}
        self.partners = {p.code: p for p in Partner.objects.all()}
        self.stores = {s.code: s for s in Store.objects.all()}
        self.terminals = {t.code: t for t in Terminal.objects.select_related("store")}
        self.currencies = {c.code: c for c in Currency.objects.all()}
        self.categories = {c.code: c for c in Category.objects.all()}
        self.brands = {b.name: b for b in Brand.objects.all()}
        self.lists = {x.code: x for x in ProductList.objects.all()}
        self.tiers = {(t.programme_id, t.code): t for t in Tier.objects.all()}
        self.counters = {(c.programme_id, c.code): c for c in Counter.objects.all()}
        self.card_batches = {b.code: b for b in CardBatch.objects.all()}
        self.segments = {(s.programme_id, s.code): s for s in Segment.objects.all()}
        self.event_types = {e.code: e for e in EventType.objects.all()}
        self.questions = {q.code: q for q in ProfileQuestion.objects.all()}
        self.product_model = Product
        self.rule_names: dict = {}  # the document's spending rules, by (programme, name)

    def fail(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def one(self, table: dict, key, path: str, what: str):
        if key is None:
            return None
        found = table.get(key)
        if found is None:
            self.fail(path, f"unknown {what} {key!r}")
        return found

    def many(self, table: dict, keys, path: str, what: str) -> list:
        if keys is None:
            return []
        if not isinstance(keys, list):
            self.fail(path, "must be a list")
            return []
        return [x for i, k in enumerate(keys) if (x := self.one(table, k, f"{path}[{i}]", what))]

    def products(self, keys, path: str) -> list:
        if not isinstance(keys, list):
            if keys is not None:
                self.fail(path, "must be a list")
            return []
        found = []
        for i, key in enumerate(keys):
            if not isinstance(key, dict) or "sku" not in key:
                self.fail(f"{path}[{i}]", 'must be {"sku": ..., "partner": ...}')
                continue
            partner = self.one(self.partners, key.get("partner"), f"{path}[{i}].partner", "partner")
            product = self.product_model.objects.filter(
                sku=key["sku"], partner=partner if key.get("partner") else None
            ).first()
            if product is None:
                self.fail(f"{path}[{i}]", f"unknown product {key['sku']!r}")
            else:
                found.append(product)
        return found

    def decimal(self, value, path: str) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float) or isinstance(value, bool):
            self.fail(path, 'give a decimal as a string, e.g. "5.00"')
            return None
        try:
            return Decimal(str(value))
        except InvalidOperation:
            self.fail(path, f"not a decimal: {value!r}")
            return None

    def moment(self, value, path: str, parse) -> datetime | time | None:
        if value is None:
            return None
        parsed = parse(value) if isinstance(value, str) else None
        if parsed is None:
            self.fail(path, f"not a valid ISO 8601 value: {value!r}")
        return parsed

    def clean(self, obj, path: str, exclude: Iterable[str] = ()) -> None:
        try:
            obj.full_clean(exclude=list(exclude), validate_unique=False)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                for message in messages:
                    self.fail(f"{path}.{field}" if field != "__all__" else path, message)


@transaction.atomic
def promotions_import(
    document, *, user=None, source: str = "import", partner_id: int | None = None
) -> list[Promotion]:
    """Create or update the document's groups, product sets and promotions (by code within
    their programme); raise ``ImportFailed`` listing every error, having written nothing.

    With ``partner_id`` (partner staff) the document may hold only that partner's promotions
    (see ``_check_partner_scope``)."""
    reader = _Reader()
    if not isinstance(document, dict):
        raise ImportFailed([("$", "the document must be a JSON object")])
    if document.get("format") != FORMAT or document.get("version") != VERSION:
        raise ImportFailed([("$", f"expected format {FORMAT!r} version {VERSION}")])
    _refuse_duplicates(reader, document)
    plan_groups, plan_sets, plan_promotions = [], [], []
    for i, row in enumerate(document.get("groups") or []):
        path = f"groups[{i}]"
        programme = reader.one(
            reader.programmes, row.get("programme"), f"{path}.programme", "programme"
        )
        group = CompatibilityGroup.objects.filter(programme=programme, name=row.get("name")).first()
        group = group or CompatibilityGroup(programme=programme)
        group.name = row.get("name") or ""
        group.mode = row.get("mode") or ""
        group.description = row.get("description") or ""
        if programme is not None:
            reader.clean(group, path, exclude=["programme"])
        plan_groups.append(group)
    for i, row in enumerate(document.get("product_sets") or []):
        path = f"product_sets[{i}]"
        programme = reader.one(
            reader.programmes, row.get("programme"), f"{path}.programme", "programme"
        )
        found = ProductSet.objects.filter(programme=programme, name=row.get("name")).first()
        product_set = found or ProductSet(programme=programme)
        product_set.name = row.get("name") or ""
        product_set.partner = reader.one(
            reader.partners, row.get("partner"), f"{path}.partner", "partner"
        )
        if programme is not None:
            reader.clean(product_set, path, exclude=["programme"])
        relations = {
            "products": reader.products(row.get("products"), f"{path}.products"),
            "categories": reader.many(
                reader.categories, row.get("categories"), f"{path}.categories", "category"
            ),
            "brands": reader.many(reader.brands, row.get("brands"), f"{path}.brands", "brand"),
            "lists": reader.many(reader.lists, row.get("lists"), f"{path}.lists", "product list"),
            "excluded_products": reader.products(
                row.get("excluded_products"), f"{path}.excluded_products"
            ),
            "excluded_categories": reader.many(
                reader.categories,
                row.get("excluded_categories"),
                f"{path}.excluded_categories",
                "category",
            ),
        }
        plan_sets.append((product_set, relations))
    set_names = {(s.programme_id, s.name): s for s, _r in plan_sets}
    plan_rules = []
    for i, row in enumerate(document.get("spend_rules") or []):
        plan_rules.append(_read_spend_rule(reader, row, f"spend_rules[{i}]", set_names))
    reader.rule_names = {(r.programme_id, r.name): r for r, _stores in plan_rules}
    group_names = {(g.programme_id, g.name): g for g in plan_groups}
    # The document's own promotions, which a multiplier may name by code (or name).
    promotion_keys = set()
    for i, row in enumerate(document.get("promotions") or []):
        if not isinstance(row, dict):
            reader.fail(f"promotions[{i}]", "must be an object")
            continue
        programme = reader.programmes.get(row.get("programme"))
        key = row.get("code") or row.get("name")
        if programme is not None and key:
            promotion_keys.add((programme.pk, key))
    for i, row in enumerate(document.get("promotions") or []):
        if isinstance(row, dict):
            plan_promotions.append(
                _read_promotion(
                    reader, row, f"promotions[{i}]", set_names, group_names, promotion_keys
                )
            )
    if partner_id is not None:
        _check_partner_scope(reader, document, partner_id)
    if reader.errors:
        raise ImportFailed(reader.errors)
    # Nothing is wrong: write.
    for group in plan_groups:
        group.save()
    for product_set, relations in plan_sets:
        product_set.save()
        for name, objects in relations.items():
            getattr(product_set, name).set(objects)
    for rule, stores in plan_rules:
        rule.product_set = rule.product_set  # takes the id of a product set saved above
        rule.save()
        rule.stores.set(stores)
    saved = []
    by_key = {}
    chained = []  # chain conditions: saved once the promotion they name is
    # Groups and product sets are saved: saving a row that names one takes its new id.
    for promotion, relations, conditions, rewards in plan_promotions:
        promotion.save()
        promotion.stores.set(relations["stores"])
        promotion.terminals.set(relations["terminals"])
        promotion.tiers.set(relations["tiers"])
        promotion.segments.set(relations["segments"])
        promotion.card_batches.set(relations["card_batches"])
        promotion.conditions.all().delete()
        promotion.rewards.all().delete()
        for condition, tiers, done_key in conditions:
            condition.promotion = promotion
            if done_key is not None:
                chained.append((promotion, condition, done_key))
            else:
                condition.save()
                condition.tiers.set(tiers)
        by_key[(promotion.programme_id, promotion.code or promotion.name)] = promotion
        saved.append((promotion, rewards))
    for promotion, condition, done_key in chained:
        condition.done_promotion = by_key.get(
            (promotion.programme_id, done_key)
        ) or _promotion_by_key(promotion.programme, done_key)
        try:  # now that the promotions exist: is the step before a step at all?
            condition.full_clean(exclude=["promotion"])
        except ValidationError as exc:
            raise ImportFailed(
                [(f"{promotion.code or promotion.name}.conditions", m) for m in exc.messages]
            ) from exc
        condition.save()
    for promotion, rewards in saved:
        for reward, multiplier_key in rewards:
            reward.promotion = promotion
            if multiplier_key is not None:
                reward.multiplier_of = by_key.get(
                    (promotion.programme_id, multiplier_key)
                ) or _promotion_by_key(promotion.programme, multiplier_key)
            try:  # now that the promotions exist: circles of multipliers
                reward.full_clean(exclude=["promotion"])
            except ValidationError as exc:
                raise ImportFailed(
                    [(f"{promotion.code or promotion.name}.rewards", m) for m in exc.messages]
                ) from exc
            reward.save()
    promotions = [promotion for promotion, _rewards in saved]
    for promotion in promotions:
        version_record(promotion, user=user, source=source)
    return promotions


def _refuse_duplicates(reader: _Reader, document: dict) -> None:
    """A promotion code (or a group, product set or spending rule name) given twice for one
    programme: the rows would write one row twice, so the document is refused."""
    for section, field in (
        ("groups", "name"),
        ("product_sets", "name"),
        ("spend_rules", "name"),
        ("promotions", "code"),
    ):
        rows = document.get(section) or []
        if not isinstance(rows, list):
            continue
        first: dict[tuple, int] = {}
        for i, row in enumerate(rows):
            key = row.get(field) if isinstance(row, dict) else None
            if not key or not isinstance(key, str):
                continue
            identity = (str(row.get("programme")), key)
            if identity not in first:
                first[identity] = i
                continue
            names = {"key": key, "first": f"{section}[{first[identity]}]"}
            reader.fail(
                f"{section}[{i}].{field}",
                _(
                    "The code %(key)s is given twice in the document (also at %(first)s): "
                    "each promotion of a programme needs its own code."
                )
                % names
                if field == "code"
                else _(
                    "The name %(key)s is given twice in the document (also at %(first)s): "
                    "each needs its own name in its programme."
                )
                % names,
            )


def _read_spend_rule(reader, row, path: str, set_names) -> tuple[SpendRule, list]:
    if not isinstance(row, dict):
        reader.fail(path, "must be an object")
        return SpendRule(), []
    programme = reader.one(
        reader.programmes, row.get("programme"), f"{path}.programme", "programme"
    )
    found = SpendRule.objects.filter(programme=programme, name=row.get("name")).first()
    rule = found or SpendRule(programme=programme)
    rule.name = row.get("name") or ""
    rule.min_receipt = reader.decimal(row.get("min_receipt"), f"{path}.min_receipt")
    rule.max_percent = reader.decimal(row.get("max_percent"), f"{path}.max_percent")
    rule.time_from = reader.moment(row.get("time_from"), f"{path}.time_from", parse_time)
    rule.time_to = reader.moment(row.get("time_to"), f"{path}.time_to", parse_time)
    set_name = row.get("product_set")
    rule.product_set = None
    if set_name is not None:
        rule.product_set = set_names.get((getattr(programme, "pk", None), set_name)) or (
            ProductSet.objects.filter(programme=programme, name=set_name).first()
        )
        if rule.product_set is None:
            reader.fail(f"{path}.product_set", f"unknown product set {set_name!r}")
    if programme is not None:
        reader.clean(rule, path, exclude=["programme", "product_set"])
    stores = reader.many(reader.stores, row.get("stores"), f"{path}.stores", "store")
    return rule, stores


def promotion_copy(promotion: Promotion, *, user=None) -> Promotion:
    """A draft copy of the promotion with its conditions and rewards (through the format)."""
    data = promotion_data(promotion)
    base = promotion.code or "promotion"
    number = 1
    while Promotion.objects.filter(
        programme=promotion.programme, code=f"{base}-copy-{number}"
    ).exists():
        number += 1
    data.update(
        code=f"{base}-copy-{number}"[:64],
        name=f"{promotion.name} ({number})"[:200] if number > 1 else f"{promotion.name} (copy)",
        status=Promotion.Status.DRAFT,
    )
    document = {"format": FORMAT, "version": VERSION, "promotions": [data]}
    return promotions_import(document, user=user, source="copy")[0]


def _check_partner_scope(reader: _Reader, document: dict, partner_id: int) -> None:
    """Refuse what partner staff may not import: a promotion of another partner or for every
    partner, one replacing such a promotion (same code), another partner's stores, a
    multiplier of a promotion not of their partner, and changes to compatibility groups
    (shared by every partner) or to product sets not of their partner. Naming an existing
    group or product set unchanged, as an export of their promotions does, is fine."""
    own = next(partner for partner in reader.partners.values() if partner.pk == partner_id)
    names = {"partner": own.name}
    rows = [row for row in document.get("promotions") or [] if isinstance(row, dict)]
    keys = {(row.get("programme"), row.get("code") or row.get("name")) for row in rows}
    for i, row in enumerate(document.get("promotions") or []):
        if not isinstance(row, dict):
            continue
        path = f"promotions[{i}]"
        if row.get("partner") is None:
            reader.fail(
                f"{path}.partner",
                _(
                    "Only promotions of %(partner)s can be imported here; this one runs at "
                    "every partner (it names no partner)."
                )
                % names,
            )
        elif row.get("partner") != own.code:
            reader.fail(
                f"{path}.partner",
                _("Only promotions of %(partner)s can be imported here; this one is for %(other)s.")
                % {**names, "other": row.get("partner")},
            )
        programme = reader.programmes.get(row.get("programme"))
        existing = (
            Promotion.objects.filter(programme=programme, code=row["code"]).first()
            if programme is not None and row.get("code")
            else None
        )
        if existing is not None and existing.partner_id != partner_id:
            reader.fail(
                f"{path}.code",
                _(
                    "A promotion with this code already exists and does not belong to "
                    "%(partner)s: it cannot be replaced."
                )
                % names,
            )
        stores = row.get("stores") if isinstance(row.get("stores"), list) else []
        for j, code in enumerate(stores):
            store = reader.stores.get(code)
            if store is not None and store.partner_id != partner_id:
                reader.fail(
                    f"{path}.stores[{j}]",
                    _("The store %(store)s does not belong to %(partner)s.")
                    % {**names, "store": code},
                )
        terminals = row.get("terminals") if isinstance(row.get("terminals"), list) else []
        for j, code in enumerate(terminals):
            terminal = reader.terminals.get(code)
            if terminal is not None and terminal.store.partner_id != partner_id:
                reader.fail(
                    f"{path}.terminals[{j}]",
                    _("The terminal %(terminal)s does not belong to %(partner)s.")
                    % {**names, "terminal": code},
                )
        for j, reward in enumerate(row.get("rewards") or []):
            key = reward.get("multiplier_of") if isinstance(reward, dict) else None
            if key is None or programme is None or (row.get("programme"), key) in keys:
                continue
            target = _promotion_by_key(programme, key)
            if target is not None and target.partner_id != partner_id:
                reader.fail(
                    f"{path}.rewards[{j}].multiplier_of",
                    _(
                        "The promotion %(promotion)s does not belong to %(partner)s: only its "
                        "own promotions can be multiplied."
                    )
                    % {**names, "promotion": key},
                )
    for i, row in enumerate(document.get("groups") or []):
        if not isinstance(row, dict):
            continue
        group = CompatibilityGroup.objects.filter(
            programme=reader.programmes.get(row.get("programme")), name=row.get("name")
        ).first()
        if group is not None and (
            row.get("mode") != group.mode or (row.get("description") or "") != group.description
        ):
            reader.fail(
                f"groups[{i}]",
                _(
                    "The compatibility group %(name)s is shared by every partner: only "
                    "coalition staff can change it."
                )
                % {"name": group.name},
            )
    for i, row in enumerate(document.get("product_sets") or []):
        if not isinstance(row, dict):
            continue
        product_set = ProductSet.objects.filter(
            programme=reader.programmes.get(row.get("programme")), name=row.get("name")
        ).first()
        if product_set is not None and _same_product_set(product_set, row):
            continue
        if product_set is not None and product_set.partner_id != partner_id:
            reader.fail(
                f"product_sets[{i}]",
                _(
                    "The product set %(name)s does not belong to %(partner)s: only coalition "
                    "staff can change it."
                )
                % {**names, "name": product_set.name},
            )
        elif row.get("partner") != own.code:
            reader.fail(
                f"product_sets[{i}].partner",
                _("A product set imported here must belong to %(partner)s.") % names,
            )


def _same_product_set(product_set: ProductSet, row: dict) -> bool:
    """Whether importing ``row`` would leave the stored product set as it is."""
    stored = product_set_data(product_set)
    if row.get("partner") != stored["partner"]:
        return False
    for key in ("categories", "brands", "lists", "excluded_categories"):
        value = row.get(key) or []
        if not isinstance(value, list) or sorted(map(str, value)) != stored[key]:
            return False
    for key in ("products", "excluded_products"):
        value = row.get(key) or []
        if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
            return False
        given = sorted((str(p.get("sku")), str(p.get("partner"))) for p in value)
        if given != sorted((str(p["sku"]), str(p["partner"])) for p in stored[key]):
            return False
    return True


def _promotion_by_key(programme, key: str) -> Promotion | None:
    """A promotion of ``programme`` named by its code, or else by its name."""
    promotions = Promotion.objects.filter(programme=programme)
    return promotions.filter(code=key).first() or promotions.filter(name=key).first()


def _read_promotion(reader: _Reader, row: dict, path: str, set_names, group_names, promotion_keys):
    programme = reader.one(
        reader.programmes, row.get("programme"), f"{path}.programme", "programme"
    )
    if programme is None and row.get("programme") is None:
        reader.fail(f"{path}.programme", "required")
    code = row.get("code") or ""
    found = (
        Promotion.objects.filter(programme=programme, code=code).first()
        if programme is not None and code
        else None
    )
    promotion = found or Promotion(programme=programme)
    promotion.code = code
    promotion.name = row.get("name") or ""
    promotion.description = row.get("description") or ""
    promotion.cashier_message = row.get("cashier_message") or ""
    promotion.customer_message = row.get("customer_message") or ""
    series_code = row.get("coupon_series")
    promotion.coupon_series = None
    if series_code is not None:
        from promotions.models import CouponSeries

        promotion.coupon_series = (
            CouponSeries.objects.filter(programme=programme, code=series_code).first()
            if programme is not None
            else None
        )
        if promotion.coupon_series is None:
            reader.fail(f"{path}.coupon_series", f"unknown coupon series {series_code!r}")
    promotion.status = row.get("status") or Promotion.Status.DRAFT
    promotion.priority = row.get("priority", 0)
    promotion.exclusive = bool(row.get("exclusive", False))
    promotion.channels = row.get("channels") or []
    promotion.weekdays = row.get("weekdays") or []
    promotion.card_types = row.get("card_types") or []
    promotion.new_within_days = row.get("new_within_days")
    promotion.referred_only = bool(row.get("referred_only", False))
    promotion.around_date = row.get("around_date") or ""
    promotion.days_before = row.get("days_before") or 0
    promotion.days_after = row.get("days_after") or 0
    promotion.partner = reader.one(
        reader.partners, row.get("partner"), f"{path}.partner", "partner"
    )
    promotion.starts_at = reader.moment(row.get("starts_at"), f"{path}.starts_at", parse_datetime)
    promotion.ends_at = reader.moment(row.get("ends_at"), f"{path}.ends_at", parse_datetime)
    promotion.time_from = reader.moment(row.get("time_from"), f"{path}.time_from", parse_time)
    promotion.time_to = reader.moment(row.get("time_to"), f"{path}.time_to", parse_time)
    promotion.budget = reader.decimal(row.get("budget"), f"{path}.budget")
    promotion.max_per_receipt = reader.decimal(
        row.get("max_per_receipt"), f"{path}.max_per_receipt"
    )
    promotion.exchange_cost = reader.decimal(row.get("exchange_cost"), f"{path}.exchange_cost")
    promotion.exchange_currency = reader.one(
        reader.currencies, row.get("exchange_currency"), f"{path}.exchange_currency", "currency"
    )
    for field in ("uses_per_customer", "uses_per_customer_day", "uses_per_day"):
        value = row.get(field)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            reader.fail(f"{path}.{field}", "must be a whole number or null")
            value = None
        setattr(promotion, field, value)
    if row.get("starts_at") is None:
        reader.fail(f"{path}.starts_at", "required")
    if not isinstance(promotion.priority, int) or isinstance(promotion.priority, bool):
        reader.fail(f"{path}.priority", "must be an integer")
        promotion.priority = 0
    if any(not isinstance(d, int) or not 1 <= d <= 7 for d in promotion.weekdays):
        reader.fail(f"{path}.weekdays", "days are 1 (Monday) to 7 (Sunday)")
    programme_id = programme.pk if programme is not None else None
    group_name = row.get("group")
    promotion.group = None
    if group_name is not None:
        promotion.group = group_names.get((programme_id, group_name)) or (
            CompatibilityGroup.objects.filter(programme=programme, name=group_name).first()
        )
        if promotion.group is None:
            reader.fail(f"{path}.group", f"unknown compatibility group {group_name!r}")
    tiers = {code: t for (pid, code), t in reader.tiers.items() if pid == programme_id}
    counters = {code: x for (pid, code), x in reader.counters.items() if pid == programme_id}
    _read_trigger(reader, promotion, row.get("trigger"), f"{path}.trigger", tiers, counters)
    if programme is not None and promotion.starts_at is not None:
        reader.clean(promotion, path, exclude=["programme", "group", "partner"])
    relations = {
        "stores": reader.many(reader.stores, row.get("stores"), f"{path}.stores", "store"),
        "terminals": reader.many(
            reader.terminals, row.get("terminals"), f"{path}.terminals", "terminal"
        ),
        "tiers": reader.many(tiers, row.get("tiers"), f"{path}.tiers", "tier"),
        "segments": reader.many(
            {code: x for (pid, code), x in reader.segments.items() if pid == programme_id},
            row.get("segments"),
            f"{path}.segments",
            "segment",
        ),
        "card_batches": reader.many(
            reader.card_batches, row.get("card_series"), f"{path}.card_series", "card series"
        ),
    }

    def product_set(name, where):
        if name is None:
            return None
        found = (
            set_names.get((programme_id, name))
            or ProductSet.objects.filter(programme=programme, name=name).first()
        )
        if found is None:
            reader.fail(where, f"unknown product set {name!r}")
        return found

    conditions = []
    for j, c in enumerate(row.get("conditions") or []):
        where = f"{path}.conditions[{j}]"
        condition = Condition(
            or_group=c.get("or_group", 1),
            kind=c.get("kind") or "",
            operator=c.get("operator") or Condition.Operator.GTE,
            amount=reader.decimal(c.get("amount"), f"{where}.amount"),
            quantity=reader.decimal(c.get("quantity"), f"{where}.quantity"),
            counter=reader.one(counters, c.get("counter"), f"{where}.counter", "counter"),
        )
        condition.product_set = product_set(c.get("product_set"), f"{where}.product_set")
        done_key = c.get("promotion")
        exclude = ["promotion", "product_set"]
        if done_key is not None:
            known = (programme_id, done_key) in promotion_keys or _promotion_by_key(
                programme, done_key
            )
            if not known:
                reader.fail(f"{where}.promotion", f"unknown promotion {done_key!r}")
            exclude.append("done_promotion")  # checked once the promotions are written
        elif condition.kind == Condition.Kind.PROMOTION_DONE:
            reader.fail(f"{where}.promotion", "required")
            exclude.append("done_promotion")
        document_set = condition.product_set
        if document_set is not None and document_set.pk is None:
            # A product set of this document, written only with the rest: its id is not known
            # yet, so the model's "a product set is chosen" check sees a stand-in, and the set
            # itself is put back for the write (saving the condition then takes its new id).
            condition.product_set_id = 0
            reader.clean(condition, where, exclude=exclude)
            condition.product_set = document_set
        else:
            reader.clean(condition, where, exclude=exclude)
        tiers_of = reader.many(tiers, c.get("tiers"), f"{where}.tiers", "tier")
        conditions.append((condition, tiers_of, done_key))
    rewards = []
    for j, r in enumerate(row.get("rewards") or []):
        where = f"{path}.rewards[{j}]"
        reward = Reward(
            kind=r.get("kind") or "",
            value=reader.decimal(r.get("value"), f"{where}.value"),
            favourites_only=r.get("favourites_only") is True,
            every_n=r.get("every_n"),
            activation_delay_days=r.get("activation_delay_days") or 0,
            lifetime_days=r.get("lifetime_days"),
            currency=reader.one(
                reader.currencies, r.get("currency"), f"{where}.currency", "currency"
            ),
            expires_on=reader.moment(r.get("expires_on"), f"{where}.expires_on", parse_date),
            min_line_quantity=reader.decimal(
                r.get("min_line_quantity"), f"{where}.min_line_quantity"
            ),
            counter=reader.one(counters, r.get("counter"), f"{where}.counter", "counter"),
            coupon_series=r.get("coupon_series") or "",
            beneficiary=r.get("beneficiary") or Reward.Beneficiary.CUSTOMER,
            expires_days_after_date=r.get("expires_days_after_date"),
            expires_day_of_next_month=r.get("expires_day_of_next_month"),
            tier=reader.one(tiers, r.get("tier"), f"{where}.tier", "tier"),
            max_units=r.get("max_units"),
            band_basis=r.get("band_basis") or "",
            band_counter=reader.one(
                counters, r.get("band_counter"), f"{where}.band_counter", "counter"
            ),
            bands=bands_read(r.get("bands"), f"{where}.bands", reader.fail),
        )
        if reward.value is None and r.get("value") is None:
            reward.value = first_band_value(reward.bands)  # with bands, it may be left out
        if reward.max_units is not None and (
            not isinstance(reward.max_units, int) or isinstance(reward.max_units, bool)
        ):
            reader.fail(f"{where}.max_units", "must be a whole number or null")
            reward.max_units = None
        if r.get("favourites_only") not in (None, True, False):
            # A string such as "false" would read as true: refuse anything but a boolean.
            reader.fail(f"{where}.favourites_only", "must be true or false")
        rule_name = r.get("spend_rule")
        if rule_name is not None:
            reward.spend_rule = reader.rule_names.get((programme_id, rule_name)) or (
                SpendRule.objects.filter(programme=programme, name=rule_name).first()
            )
            if reward.spend_rule is None:
                reader.fail(f"{where}.spend_rule", f"unknown spending rule {rule_name!r}")
        reward.product_set = product_set(r.get("product_set"), f"{where}.product_set")
        multiplier_key = r.get("multiplier_of")
        if multiplier_key is not None:
            known = (programme_id, multiplier_key) in promotion_keys or _promotion_by_key(
                programme, multiplier_key
            )
            if not known:
                reader.fail(f"{where}.multiplier_of", f"unknown promotion {multiplier_key!r}")
            reward.multiplier_of_id = 0  # a stand-in for the model's checks; set when written
        reader.clean(reward, where, exclude=["promotion", "product_set", "multiplier_of"])
        for field, message in reward.occasion_errors(promotion.trigger).items():
            reader.fail(f"{where}.{field}", str(message))
        reward.multiplier_of_id = None
        rewards.append((reward, multiplier_key))
    return promotion, relations, conditions, rewards


def _read_trigger(reader: _Reader, promotion: Promotion, data, path: str, tiers, counters) -> None:
    """Set what starts the promotion from the document's ``trigger`` (null: a purchase)."""
    promotion.trigger = "receipt"
    promotion.event_type = promotion.trigger_counter = promotion.trigger_tier = None
    promotion.trigger_question = None
    promotion.trigger_value = promotion.trigger_day = None
    promotion.trigger_channel = promotion.trigger_date = ""
    promotion.trigger_offset_days = 0
    if data is None:
        return
    if not isinstance(data, dict):
        reader.fail(path, "must be an object or null")
        return
    promotion.trigger = data.get("kind") or ""
    promotion.event_type = reader.one(
        reader.event_types, data.get("event_type"), f"{path}.event_type", "event type"
    )
    promotion.trigger_counter = reader.one(
        counters, data.get("counter"), f"{path}.counter", "counter"
    )
    promotion.trigger_tier = reader.one(tiers, data.get("tier"), f"{path}.tier", "tier")
    promotion.trigger_question = reader.one(
        reader.questions, data.get("question"), f"{path}.question", "profile question"
    )
    promotion.trigger_value = reader.decimal(data.get("value"), f"{path}.value")
    promotion.trigger_channel = data.get("channel") or ""
    promotion.trigger_date = data.get("date") or ""
    for field, attribute in (("offset_days", "trigger_offset_days"), ("day", "trigger_day")):
        value = data.get(field)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            reader.fail(f"{path}.{field}", "must be a whole number or null")
            value = None
        setattr(promotion, attribute, value if value is not None or field == "day" else 0)
