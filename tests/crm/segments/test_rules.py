"""A segment's rule: its canonical form, and every bad rule refused with a named error that
changes nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from crm.errors import (
    RuleGroupEmpty,
    RuleKindUnknown,
    RuleParamsInvalid,
    RuleSegmentCycle,
    RuleShapeInvalid,
    RuleTooLarge,
    SegmentRuleError,
)
from crm.models import Segment
from crm.segments.registry import kinds
from crm.segments.rules import rule_clean
from tests.factories.crm import ProfileQuestionFactory, SegmentFactory
from tests.factories.loyalty import CurrencyFactory, PartnerFactory, ProgrammeFactory, TierFactory

pytestmark = pytest.mark.django_db


def group(*items, op="and", **extra):
    return {"op": op, "items": list(items), **extra}


@pytest.fixture
def programme():
    return ProgrammeFactory()


def test_every_app_registers_its_kinds():
    by_app = {}
    for kind in kinds():
        by_app.setdefault(kind.app_label, set()).add(kind.code)
    assert by_app["crm"] >= {"age", "gender", "registered", "source", "answer", "family", "car"}
    assert by_app["crm"] >= {"date_near", "segment"}
    assert by_app["loyalty"] == {
        "card", "tier", "balance", "expiring", "purchases",
        "promo_share", "wallet_share", "spend_growth", "churn_risk", "rfm_cell",
    }  # fmt: skip
    assert by_app["promotions"] == {"promotion_reward", "coupon_used"}


def test_a_rule_is_kept_in_its_canonical_form(programme):
    partner = PartnerFactory()
    clean = rule_clean(
        group(
            {"kind": "purchases", "measure": "sum", "min": 1500, "partners": [partner.pk]},
            group({"kind": "age", "max": 30}, op="or", **{"not": True}),
        ),
        programme_id=programme.pk,
    )
    assert clean == {
        "op": "and",
        "not": False,
        "items": [
            {
                "kind": "purchases",
                "not": False,
                "measure": "sum",
                "min": "1500",
                "partners": [partner.pk],
            },
            {"op": "or", "not": True, "items": [{"kind": "age", "not": False, "max": 30}]},
        ],
    }
    assert rule_clean(clean, programme_id=programme.pk) == clean


@pytest.mark.parametrize(
    ("rule", "error", "path", "param"),
    [
        ([], RuleShapeInvalid, "", ""),
        ({"kind": "age", "min": 1}, RuleShapeInvalid, "", ""),  # a condition is no group
        (group(op="xor"), RuleShapeInvalid, "", "op"),
        ({"op": "and", "items": "age"}, RuleShapeInvalid, "", "items"),
        (group(), RuleGroupEmpty, "", ""),
        (group(group()), RuleGroupEmpty, "items.0", ""),
        (group({"kind": "age", "min": 1, "not": "yes"}), RuleShapeInvalid, "items.0", "not"),
        (group({"kind": "horoscope"}), RuleKindUnknown, "items.0", ""),
        (group({"kind": "age"}), RuleParamsInvalid, "items.0", "min"),
        (group({"kind": "age", "min": 40, "max": 30}), RuleParamsInvalid, "items.0", "max"),
        (group({"kind": "age", "min": "18"}), RuleParamsInvalid, "items.0", "min"),
        (group({"kind": "age", "min": 18, "colour": 1}), RuleParamsInvalid, "items.0", "colour"),
        (group({"kind": "gender", "genders": ["robot"]}), RuleParamsInvalid, "items.0", "genders"),
        (group({"kind": "registered", "window": {"last_days": 0}}), RuleParamsInvalid, "items.0", "window"),
        (
            group({"kind": "registered", "window": {"from": "2025-05-01", "to": "2025-04-01"}}),
            RuleParamsInvalid,
            "items.0",
            "window",
        ),
        (group({"kind": "purchases", "measure": "sum", "min": 1.5}), RuleParamsInvalid, "items.0", "min"),
        (group({"kind": "purchases", "measure": "sum", "min": "1.005"}), RuleParamsInvalid, "items.0", "min"),
        (group({"kind": "purchases", "measure": "count", "min": "1.5"}), RuleParamsInvalid, "items.0", "min"),
        (group({"kind": "purchases", "measure": "count", "min": 1, "partners": [999999]}), RuleParamsInvalid, "items.0", "partners"),
        (group({"kind": "tier", "tiers": []}), RuleParamsInvalid, "items.0", "tiers"),
        (group({"kind": "age", "min": 1}, {"kind": "segment", "segment": 999999}), RuleParamsInvalid, "items.1", "segment"),
    ],
)  # fmt: skip
def test_bad_rules_are_refused_with_a_named_error(programme, rule, error, path, param):
    with pytest.raises(error) as caught:
        rule_clean(rule, programme_id=programme.pk)
    assert caught.value.path == path
    assert caught.value.param == param
    assert caught.value.code.startswith("rule_")
    assert isinstance(caught.value, SegmentRuleError)


def test_a_rule_may_not_name_another_programmes_rows(programme):
    other = ProgrammeFactory(code="other")
    tier = TierFactory(programme=other)
    currency = CurrencyFactory(programme=other, code="other-points", is_default=False)
    with pytest.raises(RuleParamsInvalid) as caught:
        rule_clean(group({"kind": "tier", "tiers": [tier.pk]}), programme_id=programme.pk)
    assert caught.value.details["missing"] == [tier.pk]
    with pytest.raises(RuleParamsInvalid):
        rule_clean(
            group({"kind": "balance", "currency": currency.pk, "min": "1"}),
            programme_id=programme.pk,
        )


def test_an_answer_condition_must_fit_the_question(programme):
    number = ProfileQuestionFactory(answer_type="number")
    with pytest.raises(RuleParamsInvalid) as caught:
        rule_clean(
            group({"kind": "answer", "question": number.pk, "match": "text_contains", "text": "x"}),
            programme_id=programme.pk,
        )
    assert caught.value.param == "match"
    with pytest.raises(RuleParamsInvalid) as caught:
        rule_clean(
            group({"kind": "answer", "question": number.pk, "match": "number_between"}),
            programme_id=programme.pk,
        )
    assert caught.value.param == "min"


def test_a_rule_too_large_or_too_deep_is_refused(programme):
    wide = group(*[{"kind": "age", "min": 1}] * 100)
    with pytest.raises(RuleTooLarge):
        rule_clean(wide, programme_id=programme.pk)
    deep = {"kind": "age", "min": 1}
    for _ in range(6):
        deep = group(deep)
    with pytest.raises(RuleTooLarge):
        rule_clean(deep, programme_id=programme.pk)


def _rules_segment(programme, rule):
    return SegmentFactory(programme=programme, kind=Segment.Kind.RULES, rule=rule)


def test_a_segment_cannot_refer_to_itself(programme):
    segment = _rules_segment(programme, group({"kind": "age", "min": 18}))
    with pytest.raises(RuleSegmentCycle):
        rule_clean(
            group({"kind": "segment", "segment": segment.pk}),
            programme_id=programme.pk,
            segment_id=segment.pk,
        )


def test_nor_through_other_segments(programme):
    # a -> b -> c; then c -> a closes the cycle
    a = _rules_segment(programme, group({"kind": "age", "min": 18}))
    c = _rules_segment(programme, group({"kind": "age", "min": 18}))
    b = _rules_segment(programme, group({"kind": "segment", "segment": c.pk}))
    a.rule = rule_clean(
        group({"kind": "segment", "segment": b.pk}), programme_id=programme.pk, segment_id=a.pk
    )
    a.save()
    with pytest.raises(RuleSegmentCycle) as caught:
        rule_clean(
            group({"kind": "gender", "genders": ["male"]}, {"kind": "segment", "segment": a.pk}),
            programme_id=programme.pk,
            segment_id=c.pk,
        )
    assert caught.value.code == "rule_segment_cycle"
    # a manual segment, or one of the rules that leads nowhere back, is fine
    manual = SegmentFactory(programme=programme)
    rule_clean(
        group({"kind": "segment", "segment": manual.pk}, {"kind": "segment", "segment": b.pk}),
        programme_id=programme.pk,
        segment_id=None,
    )


def test_the_admin_form_check_shows_the_error_and_saves_nothing(programme):
    segment = _rules_segment(programme, {"op": "and", "not": False, "items": [
        {"kind": "age", "not": False, "min": 18}
    ]})  # fmt: skip
    segment.rule = group({"kind": "segment", "segment": segment.pk})
    with pytest.raises(ValidationError) as caught:
        segment.full_clean()
    assert caught.value.error_dict["rule"][0].code == "rule_segment_cycle"
    segment.refresh_from_db()
    assert segment.rule["items"][0]["kind"] == "age"


def test_a_manual_segment_keeps_no_rule(programme):
    segment = SegmentFactory.build(programme=programme, rule=group({"kind": "nonsense"}))
    segment.full_clean()
    assert segment.rule is None
