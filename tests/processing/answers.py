"""The services' outcomes as the API renders them: the tests of the numbers read the answer a
register gets (``processing.api.answers``), whichever way they reach the services."""

from __future__ import annotations

from processing.api.answers import offline_answer, purchase_answer
from processing.calculate import purchase_calculate, purchase_preview
from processing.confirm import purchase_confirm
from processing.offline import purchases_offline


def confirm_answer(*args, **kwargs) -> dict:
    """``purchase_confirm``'s outcome, rendered."""
    return purchase_answer(purchase_confirm(*args, **kwargs))


def calculate_answer(*args, **kwargs) -> dict:
    """``purchase_calculate``'s outcome, rendered."""
    return purchase_answer(purchase_calculate(*args, **kwargs))


def preview_answer(*args, **kwargs):
    """``purchase_preview``: the rendered answer and the engine's result."""
    outcome, result = purchase_preview(*args, **kwargs)
    return purchase_answer(outcome), result


def offline_answers(*args, **kwargs) -> list[dict]:
    """``purchases_offline``'s items, rendered."""
    return offline_answer(purchases_offline(*args, **kwargs))
