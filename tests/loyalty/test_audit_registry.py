"""Every model in the admin is audited or left out on purpose, and audited models' bulk
paths are audited too."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin

from audit.registry import AUDITED, NOT_AUDITED
from audit.trail import AuditedQuerySetMixin, is_audited


def test_every_admin_model_is_audited_or_left_out_with_a_reason():
    undecided = sorted(
        model._meta.label
        for model in admin.site._registry
        if model._meta.label not in AUDITED and model._meta.label not in NOT_AUDITED
    )
    assert not undecided, (
        "decide whether these models are audited: add them to audit.registry.AUDITED, or to "
        f"NOT_AUDITED with the reason: {undecided}"
    )


def test_the_registry_names_real_models_once_with_reasons():
    assert not set(AUDITED) & set(NOT_AUDITED)
    for label in [*AUDITED, *NOT_AUDITED]:
        apps.get_model(label)  # raises LookupError for a typo
    assert all(str(reason).strip() for reason in NOT_AUDITED.values())


@pytest.mark.parametrize("label", sorted(AUDITED))
def test_audited_models_bulk_paths_go_through_the_audited_queryset(label):
    model = apps.get_model(label)
    assert is_audited(model)
    assert isinstance(model._default_manager.get_queryset(), AuditedQuerySetMixin)
    assert isinstance(model.objects.all(), AuditedQuerySetMixin)
    # related managers (batch.cards, promotion.rewards) derive from the default manager's class
    for relation in model._meta.related_objects:
        if relation.one_to_many and is_audited(relation.related_model):
            descriptor = getattr(model, relation.get_accessor_name())
            queryset_class = descriptor.related_manager_cls._queryset_class
            assert issubclass(queryset_class, AuditedQuerySetMixin), relation


@pytest.mark.parametrize("label", ["loyalty.Account", "loyalty.LedgerEntry", "loyalty.Lot"])
def test_hot_path_tables_are_not_audited(label):
    model = apps.get_model(label)
    assert not is_audited(model)
    assert not isinstance(model.objects.all(), AuditedQuerySetMixin)


def test_migrations_still_see_the_original_managers():
    from django.contrib.auth.models import Group, User, UserManager

    assert User.objects.deconstruct()[1] == "django.contrib.auth.models.UserManager"
    assert User.objects == UserManager()
    assert Group.objects.deconstruct()[1] == "django.contrib.auth.models.GroupManager"
