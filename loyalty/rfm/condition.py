"""The segment condition ``rfm_cell``: the customer is in one of the named cells of an RFM
scheme of the segment's programme, as of the scheme's last run. Registered by
``loyalty.segment_kinds.register_loyalty_kinds``.

It compiles to ``pk IN (SELECT customer_id FROM rfm score WHERE scheme_id = .. AND cell IN
(..))``: one index range (``rfm_score_cell_idx``), never NULL, so NOT of it is exactly the
customers in none of the cells (unscored customers included)."""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.segments.params import Param, bad
from crm.segments.registry import CheckContext, CompileContext, ConditionKind, Values
from loyalty.models.rfm import RfmCell, RfmScore

RFM = _("RFM")


def _compile(values: Values, ctx: CompileContext) -> Q:
    scores = RfmScore.objects.filter(scheme_id=values["scheme"], cell__in=values["cells"])
    return Q(pk__in=scores.values("customer_id"))


def _check(values: Values, ctx: CheckContext) -> None:
    known = set(
        RfmCell.objects.filter(scheme_id=values["scheme"], code__in=values["cells"]).values_list(
            "code", flat=True
        )
    )
    missing = [code for code in values["cells"] if code not in known]
    if missing:
        raise bad(
            "cells",
            _("The scheme has no cell %(codes)s.") % {"codes": ", ".join(missing)},
            missing=missing,
        )


RFM_CELL = ConditionKind(
    "rfm_cell",
    _("RFM cell"),
    RFM,
    (
        Param(
            "scheme",
            _("RFM scheme"),
            "id",
            required=True,
            model="loyalty.RfmScheme",
            programme_field="programme",
        ),
        Param("cells", _("in one of the cells"), "texts", required=True),
    ),
    _compile,
    check=_check,
    app_label="loyalty",
    help_text=_("The cell codes of the scheme (champions, lost...), as of its last run."),
)
