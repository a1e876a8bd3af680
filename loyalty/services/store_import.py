"""Store import: row checks shared by the admin and the bulk path, and the loader.

A row is ``code, partner, name, channel, city, address, timezone, is_active, opened_at,
closed_at``; only ``code`` is always required. A store is found by its code: a known one is
updated, an unknown one created (it then needs a partner and a name), and one whose values
already match is left alone. An empty cell keeps the current value (for a new store: the
default). A store never moves to another partner.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from loyalty.models import Partner, Store
from loyalty.services.imports import (
    Action,
    ImportReport,
    Progress,
    cell_bool,
    cell_date,
    cell_text,
    first_row_of,
    source_rows,
    text_max,
    upsert_import,
    upsert_write,
)
from loyalty.signals import terminals_changed
from loyalty.validators import validate_code, validate_timezone

REQUIRED = ("code",)
COLUMNS = (
    "code",
    "partner",
    "name",
    "channel",
    "city",
    "address",
    "timezone",
    "is_active",
    "opened_at",
    "closed_at",
)
UPDATE_FIELDS = (
    "name",
    "channel",
    "city",
    "address",
    "timezone",
    "is_active",
    "opened_at",
    "closed_at",
)
TEXT_MAX = {name: text_max(Store, name) for name in ("name", "city", "address")}


class StoreState(NamedTuple):
    """The values an import may change, in ``UPDATE_FIELDS`` order."""

    name: str
    channel: str
    city: str
    address: str
    timezone: str
    is_active: bool
    opened_at: date | None
    closed_at: date | None


NEW_STORE = StoreState(
    "", Store.Channel.STORE, "", "", Store._meta.get_field("timezone").default, True, None, None
)


@dataclass(frozen=True)
class StoreRow:
    """A row that passed its checks: the store's key, its values after the import, and what
    the import does with it."""

    code: str
    partner_id: int
    state: StoreState
    pk: int | None
    action: str

    def apply(self, store: Store) -> Store:
        store.code = self.code
        store.partner_id = self.partner_id
        for name, value in zip(StoreState._fields, self.state, strict=True):
            setattr(store, name, value)
        return store

    def instance(self) -> Store:
        return self.apply(Store(pk=self.pk))


def existing_stores(codes: Iterable[str]) -> dict[str, tuple[int, int, StoreState]]:
    """The stores with one of ``codes``: code -> (id, partner id, values)."""
    rows = Store.objects.filter(code__in=list(codes)).values_list(
        "code", "pk", "partner_id", *UPDATE_FIELDS
    )
    return {code: (pk, partner_id, StoreState(*state)) for code, pk, partner_id, *state in rows}


class StoreRowChecker:
    """Check store rows one by one against the stores and the rows seen before.

    ``default_partner`` is for new stores whose partner column is empty.
    """

    def __init__(
        self,
        *,
        existing: Mapping[str, tuple[int, int, StoreState]],
        default_partner: Partner | None = None,
    ) -> None:
        self.existing = existing
        self.default_partner_id = default_partner.pk if default_partner else None
        self.seen: dict[str, int] = {}
        self._partners = dict(Partner.objects.values_list("code", "pk"))
        self._partner_codes = {pk: code for code, pk in self._partners.items()}
        self._channels = set(Store.Channel.values)

    def check(self, raw: Mapping[str, object], row: int) -> tuple[StoreRow | None, list[str]]:
        """Return the checked row, or ``None`` and the reasons it cannot be imported."""
        errors: list[str] = []
        code = cell_text(raw.get("code"))
        current = None
        if not code:
            errors.append(_("No store code given."))
        else:
            try:
                validate_code(code)
            except ValidationError as exc:
                errors.append(
                    _("The code %(code)s: %(problem)s") % {"code": code, "problem": exc.messages[0]}
                )
            first_row = first_row_of(self.seen, code, row)
            if first_row is not None:
                errors.append(
                    _("The store code %(code)s is already on row %(row)s of this file.")
                    % {"code": code, "row": first_row}
                )
            current = self.existing.get(code)
        partner_code = cell_text(raw.get("partner"))
        partner_id = None
        if partner_code:
            partner_id = self._partners.get(partner_code)
            if partner_id is None:
                errors.append(_("Unknown partner %(code)s.") % {"code": partner_code})
        if current is not None:
            if partner_id is not None and partner_id != current[1]:
                errors.append(
                    _(
                        "The store %(code)s belongs to the partner %(partner)s and cannot move "
                        "to another partner."
                    )
                    % {"code": code, "partner": self._partner_codes.get(current[1], current[1])}
                )
            partner_id = current[1]
        elif partner_id is None and not partner_code:
            partner_id = self.default_partner_id
            if partner_id is None:
                errors.append(_("No partner given for the new store %(code)s.") % {"code": code})
        state = current[2] if current else NEW_STORE
        name = cell_text(raw.get("name"))
        if not name and current is None:
            errors.append(_("No name given for the new store %(code)s.") % {"code": code})
        texts: dict[str, str] = {}
        for column in ("name", "city", "address"):
            text = cell_text(raw.get(column))
            if not text:
                continue
            if len(text) > TEXT_MAX[column]:
                errors.append(
                    _("%(column)s is longer than %(max)s characters.")
                    % {"column": column, "max": TEXT_MAX[column]}
                )
            texts[column] = text
        state = state._replace(
            name=texts.get("name", state.name),
            city=texts.get("city", state.city),
            address=texts.get("address", state.address),
        )
        channel = cell_text(raw.get("channel")).lower()
        if channel:
            if channel not in self._channels:
                errors.append(
                    _("Unknown channel %(value)s: use one of %(choices)s.")
                    % {"value": channel, "choices": ", ".join(Store.Channel.values)}
                )
            state = state._replace(channel=channel)
        zone = cell_text(raw.get("timezone"))
        if zone:
            try:
                validate_timezone(zone)
            except ValidationError as exc:
                errors.extend(exc.messages)
            state = state._replace(timezone=zone)
        value, error = cell_bool(raw.get("is_active"), "is_active")
        if error:
            errors.append(error)
        elif value is not None:
            state = state._replace(is_active=value)
        days: dict[str, date] = {}
        for column in ("opened_at", "closed_at"):
            day, error = cell_date(raw.get(column), column)
            if error:
                errors.append(error)
            elif day is not None:
                days[column] = day
        state = state._replace(
            opened_at=days.get("opened_at", state.opened_at),
            closed_at=days.get("closed_at", state.closed_at),
        )
        if state.opened_at and state.closed_at and state.closed_at < state.opened_at:
            errors.append(
                _("The store cannot close (%(closed)s) before it opens (%(opened)s).")
                % {"closed": state.closed_at, "opened": state.opened_at}
            )
        if errors or partner_id is None:
            return None, errors
        if current is None:
            return StoreRow(code, partner_id, state, None, Action.NEW), []
        action = Action.UNCHANGED if state == current[2] else Action.UPDATE
        return StoreRow(code, partner_id, state, current[0], action), []


def stores_write(rows: Iterable[StoreRow]) -> tuple[int, int]:
    """Create the new stores and update the changed ones; return both counts.

    Call it inside a transaction. After the commit ``terminals_changed`` is sent: terminal keys are checked again, as a
    store saved in the admin makes them be (a closed store's registers stop at once).
    """
    rows = list(rows)
    counts = upsert_write(
        Store,
        (row.instance() for row in rows if row.action == Action.NEW),
        (row.instance() for row in rows if row.action == Action.UPDATE),
        UPDATE_FIELDS,
    )
    transaction.on_commit(lambda: terminals_changed.send(sender=Store))
    return counts


def stores_import_bulk(
    source: io.TextIOBase | Iterable[Mapping],
    *,
    default_partner: Partner | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Check every row of a store file, then create and update all stores, or none.

    ``source`` is a CSV text stream or rows already read (an XLSX sheet). Raises
    ``ValidationError`` for a file without a ``code`` column, or when a store was added
    meanwhile under one of the codes (nothing is written then).
    """
    raw_rows = list(source_rows(source, REQUIRED))
    checker = StoreRowChecker(
        existing=existing_stores({cell_text(raw.get("code")) for raw in raw_rows}),
        default_partner=default_partner,
    )
    return upsert_import(
        raw_rows,
        checker,
        write=stores_write,
        conflict_message=(
            _("Some of these stores were added meanwhile; nothing was imported. Run it again.")
        ),
        dry_run=dry_run,
        progress=progress,
    )
