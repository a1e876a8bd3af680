"""The Russian catalogue is complete, and the committed .mo is the compiled .po."""

import re
from pathlib import Path

import polib

LOCALE = Path(__file__).resolve().parents[2] / "locale" / "ru" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w+\}")


def test_every_message_is_translated_and_keeps_its_placeholders():
    catalogue = polib.pofile(str(LOCALE / "django.po"))
    assert catalogue.untranslated_entries() == []
    assert catalogue.fuzzy_entries() == []
    for entry in catalogue.translated_entries():
        translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for text in translations:
            assert sorted(PLACEHOLDER.findall(entry.msgid)) == sorted(
                PLACEHOLDER.findall(text)
            ) or (entry.msgid_plural), entry.msgid


def test_the_compiled_catalogue_matches_the_source():
    # Keyed by context too: "closed" (a date) and "closed" in context "ticket status" differ.
    source = {
        (entry.msgctxt, entry.msgid): entry.msgstr or dict(entry.msgstr_plural)
        for entry in polib.pofile(str(LOCALE / "django.po")).translated_entries()
    }
    compiled = {
        (entry.msgctxt, entry.msgid): entry.msgstr or dict(entry.msgstr_plural)
        for entry in polib.mofile(str(LOCALE / "django.mo"))
        if entry.msgid
    }
    assert compiled == source, "run: make messages (or compilemessages) and commit the .mo"


def test_the_vendor_catalogue_is_complete_and_compiled():
    """locale/vendor (django-unfold's and the admin's strings, kept by hand): every entry is
    translated with its placeholders, and the committed .mo is the compiled .po."""
    vendor = LOCALE.parents[1] / "vendor" / "ru" / "LC_MESSAGES"
    catalogue = polib.pofile(str(vendor / "django.po"))
    assert catalogue.untranslated_entries() == []
    for entry in catalogue.translated_entries():
        if not entry.msgid_plural:
            assert sorted(PLACEHOLDER.findall(entry.msgid)) == sorted(
                PLACEHOLDER.findall(entry.msgstr)
            ), entry.msgid
    source = {
        (entry.msgctxt, entry.msgid): entry.msgstr or dict(entry.msgstr_plural)
        for entry in catalogue.translated_entries()
    }
    compiled = {
        (entry.msgctxt, entry.msgid): entry.msgstr or dict(entry.msgstr_plural)
        for entry in polib.mofile(str(vendor / "django.mo"))
        if entry.msgid
    }
    assert compiled == source, "run: make messages (or compilemessages) and commit the .mo"
