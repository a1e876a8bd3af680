"""Model names in the grammatical form a sentence needs, so that Russian pages read "Добавить
акцию" and "5 акций", not "Добавить акция" and "5 акции".

Django and django-unfold build their titles and buttons from a model's ``verbose_name`` in the
nominative: "Add %s", "Change %s", "Add {{ name }}", "{{ count }} {{ verbose_name_plural }}".
English needs nothing else; Russian needs the accusative after a verb and one of three plural
forms after a number. Both come from the catalogue, keyed by the model's English name:

- ``pgettext("accusative", "promotion")`` is "акцию";
- ``npgettext("count", "%(count)s promotion", "%(count)s promotions", n)`` is "5 акций".

The entries are written once per model in ``config/model_names.py`` (where makemessages finds
them); ``tests/project/test_russian.py`` fails when a registered model has none. A model
without them still reads correctly in English and falls back to a neutral "Карты: 5" count.

``DeclinedTitles`` (mixed into every registered admin by ``loyalty.isolation``) gives the
change form and the change list their titles in the accusative; the template filters of
``loyalty.templatetags.declension`` serve the buttons and counts of the overridden unfold
templates under ``templates/``.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.text import capfirst
from django.utils.translation import gettext, npgettext, pgettext

ACCUSATIVE = "accusative"
COUNT = "count"
# The titles of django.contrib.admin, translated by its catalogue: only looked up here.
FORM_TITLES = ("Add %s", "Change %s", "View %s")
CHANGE_LIST = "Select %s to change"
VIEW_LIST = "Select %s to view"


def english(name) -> str:
    """The English text of a (lazy) model name: the key of its other forms."""
    with translation.override("en"):
        return str(name)


def accusative(verbose_name) -> str:
    """The model name as the object of a verb ("Добавить акцию"); the name itself in English or
    when the catalogue has no form for it."""
    key = english(verbose_name)
    form = pgettext(ACCUSATIVE, key)
    return str(verbose_name) if form == key else form


def counted(count: int, opts) -> str:
    """``count`` with the model name in the plural form the number needs: "1 акция", "2 акции",
    "5 акций"; "Акции: 5" when the catalogue has no forms for the model."""
    singular, plural = english(opts.verbose_name), english(opts.verbose_name_plural)
    template = npgettext(COUNT, f"%(count)s {singular}", f"%(count)s {plural}", count)
    if template in (f"%(count)s {singular}", f"%(count)s {plural}") and not _english_active():
        return f"{capfirst(opts.verbose_name_plural)}: {count}"
    return template % {"count": count}


def _english_active() -> bool:
    return translation.get_language().split("-")[0] == "en"


class DeclinedTitles:
    """The admin's own titles with the model name in the accusative: "Добавить акцию",
    "Изменить акцию", "Выберите акцию для изменения". A title an admin sets itself (through
    ``extra_context``) is kept."""

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        opts = self.model._meta
        for pattern in FORM_TITLES:
            if context.get("title") == gettext(pattern) % opts.verbose_name:
                context["title"] = gettext(pattern) % accusative(opts.verbose_name)
                break
        return super().render_change_form(request, context, add, change, form_url, obj)

    def changelist_view(self, request, extra_context=None):
        extra_context = dict(extra_context or {})
        if "title" not in extra_context and not request.GET.get("_popup"):
            # Django's own msgids (its catalogue translates them), as in ChangeList.
            pattern = CHANGE_LIST if self.has_change_permission(request) else VIEW_LIST
            extra_context["title"] = gettext(pattern) % accusative(self.model._meta.verbose_name)
        return super().changelist_view(request, extra_context)
