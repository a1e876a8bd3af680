"""Russian that reads as written by a person: the main pages, rendered in Russian for the demo's
roles, show no English of our catalogues, no model name left in the nominative after a verb
("Добавить акция"), no number with the wrong plural form ("5 карты"), and the contact centre
never calls a ticket a "билет". Every model the admin shows has its declined forms."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import translation

from crm.models import Customer
from demo.loader import load_demo
from loyalty import roles
from loyalty.declension import accusative, counted, english
from loyalty.models import Card, GiftCertificate, StaffProfile
from loyalty.roles import roles_sync
from promotions.models import Promotion

LOCALE = Path(__file__).resolve().parents[2] / "locale"
CATALOGUES = [LOCALE / "ru/LC_MESSAGES/django.po", LOCALE / "vendor/ru/LC_MESSAGES/django.po"]
NUMBER_FORMS = {1: 0, 2: 1, 5: 2, 21: 0, 22: 1, 11: 2, 12: 2, 14: 2, 111: 2, 101: 0}


def _plural_form(n: int) -> int:
    if n % 10 == 1 and n % 100 != 11:
        return 0
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return 1
    return 2


def _admin_names():
    """(English singular, English plural, has a count form) of every model and inline shown."""
    names = {}
    for model, model_admin in admin.site._registry.items():
        names[english(model._meta.verbose_name)] = model._meta
        for inline_class in model_admin.inlines:
            inline = inline_class(model, admin.site)
            names.setdefault(english(inline.verbose_name), inline)
    return names


def test_plural_rule_of_the_test_itself():
    assert {n: _plural_form(n) for n in NUMBER_FORMS} == NUMBER_FORMS


def test_every_model_and_inline_the_admin_shows_has_an_accusative():
    with translation.override("ru"):
        missing = [
            name for name in _admin_names() if translation.pgettext("accusative", name) == name
        ]
    assert missing == [], "add them to config/model_names.py and translate: " + ", ".join(missing)


def test_every_registered_model_counts_in_three_forms():
    missing = []
    with translation.override("ru"):
        for model in admin.site._registry:
            if ":" in counted(5, model._meta):  # the neutral fallback "Карты: 5"
                missing.append(model._meta.label)
    assert missing == [], "add them to config/model_names.py and translate: " + ", ".join(missing)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (Card, ["1 карта", "2 карты", "5 карт", "21 карта"]),
        (Customer, ["1 клиент", "2 клиента", "5 клиентов", "21 клиент"]),
        (Promotion, ["1 акция", "2 акции", "5 акций", "21 акция"]),
    ],
)
def test_counts_take_the_plural_form_the_number_needs(model, expected):
    with translation.override("ru"):
        assert [counted(n, model._meta) for n in (1, 2, 5, 21)] == expected
        assert accusative(model._meta.verbose_name) in ("карту", "клиента", "акцию")
    with translation.override("en"):
        assert counted(5, model._meta) == f"5 {model._meta.verbose_name_plural}"


def test_statuses_agree_with_their_model():
    with translation.override("ru"):
        assert str(Promotion.Status.ACTIVE.label) == "активна"
        assert str(Card.Status.ACTIVE.label) == "активна"
        assert str(GiftCertificate.Status.ACTIVE.label) == "активен"
        assert str(GiftCertificate.Status.BLOCKED.label) == "заблокирован"
        assert str(Card.Status.BLOCKED.label) == "заблокирована"


# --- The pages ---------------------------------------------------------------------------


class _Text(HTMLParser):
    """The text a person reads: text nodes and the title, placeholder and aria-label
    attributes, without scripts and styles."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self._skip += 1
        for key, value in attrs:
            if key in ("title", "placeholder", "aria-label") and value and value.strip():
                self.parts.append(value.strip())

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(" ".join(data.split()))


def _texts(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.parts


def _english_msgids() -> set[str]:
    """Our catalogues' messages that a Russian page must never show as they are: translated
    to something else, with at least two words of letters (proper names and codes are one)."""
    msgids = set()
    for path in CATALOGUES:
        for entry in polib.pofile(str(path)).translated_entries():
            text = " ".join(entry.msgid.split())
            if entry.msgid_plural or "%" in text or "{" in text or "<" in text:
                continue
            if entry.msgstr.strip() == entry.msgid.strip():
                continue
            if len(re.findall(r"[A-Za-z]{2,}", text)) >= 2:
                msgids.add(text)
    return msgids


def _nominative_after_verb(names) -> re.Pattern:
    """ "Добавить акция", "Изменить карта"...: a verb followed by a model's nominative that
    differs from its accusative."""
    nominatives = set()
    with translation.override("ru"):
        for opts in names.values():
            nominative = str(opts.verbose_name)
            if accusative(opts.verbose_name) != nominative:
                nominatives.add(re.escape(nominative))
    verbs = "Добавить|Добавить ещё|Изменить|Удалить|Просмотреть|Выберите"
    return re.compile(
        rf"\b(?:{verbs}) (?:{'|'.join(sorted(nominatives, key=len, reverse=True))})\b"
    )


def _count_forms(names) -> list[tuple[str, list[str]]]:
    """Each model's three counted forms in Russian, without the number: ("карта", "карты",
    "карт")."""
    forms = []
    with translation.override("ru"):
        for opts in names.values():
            words = [counted(n, opts).split(" ", 1) for n in (1, 2, 5)]
            if all(len(w) == 2 and w[0].isdigit() for w in words):
                forms.append((opts.verbose_name, [w[1] for w in words]))
    return forms


@pytest.fixture
def demo_world(db):
    load_demo(customers=12, months=1, seed=7, language="ru")
    roles_sync()
    users = {}
    User = get_user_model()
    for username, role in [
        ("marketer", roles.MARKETER),
        ("operator", roles.OPERATOR),
        ("supervisor", roles.SUPERVISOR),
    ]:
        user = User.objects.create_user(username=username, password="x", is_staff=True)
        user.groups.set([Group.objects.get(name=role)])
        StaffProfile.objects.update_or_create(user=user, defaults={"partner": None})
        users[username] = user
    users["admin"] = User.objects.create_superuser(username="admin", password="x")
    return users


def _client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    client.cookies["django_language"] = "ru"
    client.force_login(user)
    return client


def test_the_main_pages_read_as_russian(demo_world):
    promotion = Promotion.objects.order_by("pk").first()
    customer = Customer.objects.order_by("pk").first()
    pages = {
        "marketer": [
            reverse("admin:index"),
            reverse("admin:promotions_promotion_changelist"),
            reverse("admin:promotions_promotion_add"),
            reverse("admin:promotions_promotion_change", args=[promotion.pk]),
            reverse("admin:promotions_promotion_calendar"),
            reverse("admin:promotions_promotion_simulator"),
        ],
        "operator": [
            reverse("admin:index"),
            reverse("console:search"),
            reverse("console:customer", args=[customer.pk]),
            reverse("admin:contactcenter_ticket_changelist"),
            reverse("admin:contactcenter_ticket_add"),
        ],
        "supervisor": [reverse("console:adjustments"), reverse("reports:contact_centre")],
        "admin": [
            reverse("admin:index"),
            reverse("admin:crm_customer_changelist"),
            reverse("admin:crm_customer_change", args=[customer.pk]),
            reverse("admin:loyalty_card_changelist"),
            reverse("admin:loyalty_card_add"),
            reverse("admin:loyalty_card_delete", args=[Card.objects.first().pk]),
            reverse("admin:loyalty_store_changelist"),
            reverse("admin:loyalty_partner_changelist"),
            reverse("admin:reports_backtest_changelist"),
        ],
    }
    names = _admin_names()
    english_msgids = _english_msgids()
    nominative = _nominative_after_verb(names)
    forms = _count_forms(names)
    problems = []
    for role, urls in pages.items():
        client = _client(demo_world[role])
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (role, url, response.status_code)
            texts = _texts(response.content.decode())
            page = "\n".join(texts)
            for text in texts:
                if text in english_msgids:
                    problems.append(f"{role} {url}: untranslated “{text}”")
            for match in nominative.finditer(page):
                problems.append(f"{role} {url}: nominative after a verb “{match.group(0)}”")
            for name, (one, few, many) in forms:
                pattern = (
                    rf"(?<![\d.,])(\d+) ({'|'.join(map(re.escape, {one, few, many}))})(?![\w-])"
                )
                for match in re.finditer(pattern, page):
                    number, word = int(match.group(1)), match.group(2)
                    if word != (one, few, many)[_plural_form(number)] and len({one, few, many}) > 1:
                        problems.append(f"{role} {url}: “{match.group(0)}” ({name})")
            if "/staff/console/" in url or "contactcenter" in url:
                # the words of the page, not the data: a receipt's lines name the products
                # sold (the demo cinema sells a "Входной билет")
                words = "\n".join(
                    _texts(
                        re.sub(
                            r'<details class="receipt-lines">.*?</details>',
                            "",
                            response.content.decode(),
                            flags=re.DOTALL,
                        )
                    )
                )
                if re.search(r"(?i)билет|тикет", words):
                    problems.append(f"{role} {url}: a ticket called билет/тикет")
    assert problems == [], "\n".join(sorted(set(problems)))
