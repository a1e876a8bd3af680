"""One domain error base for every app, and one renderer of them as problems."""

from __future__ import annotations

import importlib
import re

from crm.errors import CustomerExists, DomainError, EmailTaken
from loyalty.errors import CardNotFound
from processing.api.problems import domain_error_response
from tests.factories.crm import CustomerFactory

ERROR_MODULES = ["crm.errors", "loyalty.errors", "promotions.errors", "contactcenter.errors"]


def _all_errors() -> list[type[DomainError]]:
    for name in ERROR_MODULES:
        importlib.import_module(name)
    found, todo = [], [DomainError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_apps_errors_share_the_base_with_a_code_a_status_and_a_message():
    errors = _all_errors()
    modules = {cls.__module__ for cls in errors}
    assert set(ERROR_MODULES) <= modules
    for cls in errors:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", cls.code), cls
        assert 400 <= cls.status <= 599, cls
        assert str(cls.message), cls


def test_the_renderer_answers_any_apps_error_the_same_way(db):
    card = domain_error_response(CardNotFound(card="0000"))
    assert card.status_code == 404
    assert card.data["code"] == "card_not_found"
    assert card.data["card"] == "0000"  # a ledger error's details are public

    taken = domain_error_response(EmailTaken(email="anna@example.com"))
    assert taken.status_code == 409
    assert taken.data["code"] == "email_taken"
    assert "anna@example.com" not in str(taken.data)  # the customer base's never are

    exists = domain_error_response(CustomerExists(CustomerFactory()))
    assert (exists.status_code, exists.data["code"]) == (409, "customer_exists")
    assert set(exists.data) == {"type", "title", "status", "code", "detail"}
