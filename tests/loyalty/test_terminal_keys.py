import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from loyalty.models import TerminalAPIKey
from loyalty.services.terminals import terminal_key_issue, terminal_key_revoke
from tests.factories.loyalty import TerminalFactory

pytestmark = pytest.mark.django_db


def test_a_key_is_stored_hashed_and_several_live_at_once():
    # given a terminal
    terminal = TerminalFactory(code="MEGAMART-01-T1")
    # when two keys are issued (rotation)
    old, old_raw = terminal_key_issue(terminal=terminal)
    new, new_raw = terminal_key_issue(terminal=terminal, name="rotation")
    # then both work, and neither raw key is stored
    assert TerminalAPIKey.objects.get_from_key(old_raw).terminal == terminal
    assert TerminalAPIKey.objects.get_from_key(new_raw).pk == new.pk
    assert old_raw not in {old.hashed_key, old.id}
    assert old_raw.startswith(old.prefix)
    # when the old one is revoked
    terminal_key_revoke(key=old)
    # then only the new one works
    assert not TerminalAPIKey.objects.is_valid(old_raw)
    assert TerminalAPIKey.objects.is_valid(new_raw)


def test_issue_terminal_key_command_prints_a_working_key(capsys):
    TerminalFactory(code="FRESH-01-T1")
    call_command("issue_terminal_key", "FRESH-01-T1")
    raw_key = capsys.readouterr().out.strip()
    assert TerminalAPIKey.objects.get_from_key(raw_key).terminal.code == "FRESH-01-T1"


def test_issue_terminal_key_command_refuses_an_unknown_terminal():
    with pytest.raises(CommandError, match="No terminal"):
        call_command("issue_terminal_key", "NOPE")
    assert TerminalAPIKey.objects.count() == 0
