"""Recording the audit trail.

``record`` writes one ``AuditEvent``. Who and from where come from the current context: the
``AuditMiddleware`` sets it for every request (the staff user and the client's address), and
``audit_context`` sets it for commands and jobs. ``snapshot`` and ``changes`` turn a model
instance into the JSON-safe values stored as *before* and *after*.
"""

from __future__ import annotations

import contextvars
import copy
import datetime
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connections, models, transaction
from django.utils import timezone

from audit.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    user: object | None = None
    address: str | None = None
    source: str = AuditEvent.Source.COMMAND


NOBODY = Actor()
_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("audit_actor", default=None)


def current_actor() -> Actor:
    return _actor.get() or NOBODY


@contextmanager
def audit_context(user=None, address: str | None = None, source: str = AuditEvent.Source.COMMAND):
    """Attribute the changes made inside the block to ``user`` at ``address``."""
    token = _actor.set(Actor(user=user, address=address, source=source))
    try:
        yield
    finally:
        _actor.reset(token)


def client_address(request) -> str | None:
    """The client's address: REMOTE_ADDR, or the first X-Forwarded-For hop when the deployment
    says a trusted proxy sets it (``AUDIT_TRUST_FORWARDED_FOR``)."""
    if getattr(settings, "AUDIT_TRUST_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def _source_of(request) -> str:
    path = request.path_info or ""
    if path.startswith("/admin/"):
        return AuditEvent.Source.ADMIN
    if path.startswith("/api/"):
        return AuditEvent.Source.API
    return AuditEvent.Source.STAFF


class AuditMiddleware:
    """Sets the audit context for the request: its user (once authenticated) and address."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and not user.is_authenticated:
            user = None
        with audit_context(user=user, address=client_address(request), source=_source_of(request)):
            return self.get_response(request)


def _json_value(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return "<binary>"
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if hasattr(value, "name") and hasattr(value, "storage"):  # a file field
        return value.name or ""
    return value


# Fields never written into the trail (secrets stay secret even to auditors).
SECRET_FIELDS = frozenset({"password", "hashed_key", "key", "secret", "token"})


def snapshot(instance: models.Model) -> dict:
    """The instance's concrete field values, JSON-safe (foreign keys as their ids)."""
    values = {}
    for field in instance._meta.concrete_fields:
        if field.name in SECRET_FIELDS:
            continue
        values[field.attname] = _json_value(getattr(instance, field.attname))
    return values


def changes(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the fields whose values differ, as (before, after)."""
    keys = sorted(set(before) | set(after))
    changed = [k for k in keys if before.get(k) != after.get(k)]
    return (
        {k: before.get(k) for k in changed if k in before},
        {k: after.get(k) for k in changed if k in after},
    )


def record(
    action: str,
    target: models.Model | None = None,
    *,
    before: dict | None = None,
    after: dict | None = None,
    note: str = "",
    user=None,
    address: str | None = None,
) -> AuditEvent:
    """Write one audit event about ``target`` (a model instance, or None for a general one).

    ``user`` and ``address`` default to the current context's."""
    actor = current_actor()
    user = user if user is not None else actor.user
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    event = AuditEvent(
        action=action,
        user=user,
        username=user.get_username() if user is not None else "",
        address=address if address is not None else actor.address,
        source=actor.source,
        before=before or {},
        after=after or {},
        note=note,
    )
    if target is not None:
        event.content_type = ContentType.objects.get_for_model(target, for_concrete_model=False)
        event.object_id = object_id(target)
        event.object_repr = object_repr(target)
    event.save()
    return event


# --- Automatic recording -------------------------------------------------------------------
#
# Every model named in ``audit.registry.AUDITED`` is recorded without its callers doing
# anything: ``save()`` and ``delete()`` through the model signals, and the bulk paths through
# its default manager's queryset, which ``install()`` swaps for one with ``AuditedQuerySetMixin``
# (keeping the model's own queryset methods). Queryset ``delete()`` needs no override: with
# receivers connected, Django's collector deletes row by row and sends ``post_delete`` for each.

MASK = "***"
_SKIP = object()


@dataclass(frozen=True)
class AuditPolicy:
    """How one model is recorded.

    ``exclude``: bookkeeping fields (last seen, run counts, ``auto_now`` stamps are added by
    themselves) never stored, and a change of only these makes no event, so the hot path that
    touches them writes nothing. ``personal``: fields whose values are personal data; the trail
    stores ``***`` in their place (or the empty value), never the value, so anonymising a
    customer leaves nothing of them in the trail.
    """

    exclude: frozenset[str] = frozenset()
    personal: frozenset[str] = frozenset()
    # The field naming the object in the trail when its primary key is itself a secret (an
    # API key's id embeds the key's hash); the primary key is then not stored at all.
    identify_by: str | None = None


@dataclass(frozen=True)
class _Resolved:
    fields: tuple  # the concrete fields stored: no secrets, no bookkeeping
    excluded: frozenset[str]  # names and attnames of the bookkeeping fields
    personal: frozenset[str]  # attnames
    identify_by: str | None = None


_POLICIES: dict[type, _Resolved] = {}


def object_repr(target) -> str:
    """How the trail names ``target``: its ``str()``, except for models holding personal data
    (a customer's ``str()`` is their name), which are named by their public id or key."""
    resolved = _resolved(type(target))
    if resolved is not None and resolved.personal:
        key = getattr(target, "public_id", None) or target.pk
        return f"{target._meta.verbose_name} {key}"[:200]
    return str(target)[:200]


def object_id(target) -> str:
    """The id the trail files ``target`` under: its primary key, or the field its policy
    names when the key is a secret."""
    resolved = _resolved(type(target))
    if resolved is not None and resolved.identify_by:
        return str(getattr(target, resolved.identify_by))[:64]
    return str(target.pk)[:64] if target.pk is not None else ""


def files_by_pk(model) -> bool:
    """Whether the trail's ``object_id`` of ``model`` is its primary key (not an API key's
    prefix), so it can link to the object's page."""
    resolved = _resolved(model)
    return resolved is None or not resolved.identify_by


def is_audited(model) -> bool:
    return model in _POLICIES or getattr(model._meta, "concrete_model", model) in _POLICIES


def _resolved(model) -> _Resolved | None:
    return _POLICIES.get(model) or _POLICIES.get(getattr(model._meta, "concrete_model", model))


def _resolve(model, policy: AuditPolicy) -> _Resolved:
    excluded, personal, fields = set(), set(), []
    for field in model._meta.concrete_fields:
        bookkeeping = field.name in policy.exclude or getattr(field, "auto_now", False)
        if bookkeeping:
            excluded |= {field.name, field.attname}
        elif field.name not in SECRET_FIELDS and not (policy.identify_by and field.primary_key):
            fields.append(field)
        if field.name in policy.personal:
            personal.add(field.attname)
    named = policy.exclude | policy.personal | {policy.identify_by or "pk"} - {"pk"}
    unknown = named - {f.name for f in model._meta.concrete_fields}
    if unknown:
        raise LookupError(f"{model._meta.label}: no such fields {sorted(unknown)}")
    return _Resolved(tuple(fields), frozenset(excluded), frozenset(personal), policy.identify_by)


def _stored_value(field, value):
    """``value`` as the trail stores it: a database read and an assigned value compare equal
    (decimals at the field's places, datetimes in UTC)."""
    if value is None or hasattr(value, "resolve_expression"):
        return value
    try:
        if isinstance(field, models.DecimalField):
            value = field.to_python(value).quantize(
                Decimal(1).scaleb(-field.decimal_places), rounding=ROUND_HALF_UP
            )
        elif isinstance(field, models.DateTimeField):
            value = field.to_python(value)
            if value is not None and value.tzinfo is not None:
                value = value.astimezone(datetime.UTC)
        elif isinstance(field, models.DateField | models.TimeField):
            value = field.to_python(value)
    except Exception:  # noqa: BLE001 - an odd value is stored as it is, never blocks the save
        pass
    return _json_value(value)


def _values(instance, resolved: _Resolved) -> dict:
    return {
        f.attname: _stored_value(f, getattr(instance, f.attname, None)) for f in resolved.fields
    }


def _masked(values: dict, resolved: _Resolved) -> dict:
    return {
        key: (MASK if key in resolved.personal and value not in (None, "", [], {}) else value)
        for key, value in values.items()
    }


def _has_expressions(values: dict) -> bool:
    return any(hasattr(value, "resolve_expression") for value in values.values())


def _event(action: str, target, before: dict, after: dict, note: str = "") -> AuditEvent:
    """An unsaved event about ``target``, attributed to the current context."""
    actor = current_actor()
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    event = AuditEvent(
        action=action,
        user=user,
        username=user.get_username() if user is not None else "",
        address=actor.address,
        source=actor.source,
        before=before,
        after=after,
        note=note,
        content_type=ContentType.objects.get_for_model(target, for_concrete_model=False),
        object_id=object_id(target),
    )
    event.object_repr = object_repr(target)
    return event


def _update_event(target, before: dict, after: dict, resolved: _Resolved) -> AuditEvent | None:
    old, new = changes(before, after)
    if not old and not new:
        return None
    return _event(AuditEvent.Action.UPDATE, target, _masked(old, resolved), _masked(new, resolved))


def _before_save(sender, instance, using, update_fields=None, **kwargs):
    resolved = _resolved(sender)
    if resolved is None or instance._state.adding or instance.pk is None:
        instance.__dict__["_audit_before"] = None
        return
    if update_fields is not None and set(update_fields) <= resolved.excluded:
        instance.__dict__["_audit_before"] = _SKIP
        return
    stored = sender._base_manager.using(using).filter(pk=instance.pk).first()
    instance.__dict__["_audit_before"] = _values(stored, resolved) if stored else None


def _after_save(sender, instance, created, using, update_fields=None, **kwargs):
    resolved = _resolved(sender)
    before = instance.__dict__.pop("_audit_before", None)
    if resolved is None or before is _SKIP:
        return
    after = _values(instance, resolved)
    if _has_expressions(after):  # F() assigned: read what the database computed
        after = _values(sender._base_manager.using(using).get(pk=instance.pk), resolved)
    if created or before is None:
        event = _event(AuditEvent.Action.CREATE, instance, {}, _masked(after, resolved))
    else:
        if update_fields is not None:
            names = set(update_fields)
            keep = {f.attname for f in resolved.fields if f.name in names or f.attname in names}
            before = {k: v for k, v in before.items() if k in keep}
            after = {k: v for k, v in after.items() if k in keep}
        event = _update_event(instance, before, after, resolved)
    if event is not None:
        event.save(using=using)


def _set_on_delete(relation) -> bool:
    """Whether deleting the target rewrites the referring rows (SET_NULL, SET_DEFAULT, SET())."""
    return relation.on_delete in (models.SET_NULL, models.SET_DEFAULT) or (
        getattr(relation.on_delete, "__name__", "") == "set_on_delete"
    )


def _before_delete(sender, instance, using, **kwargs):
    """Note the audited rows the deletion will re-point (the collector updates them in SQL,
    past the queryset), so that ``_after_delete`` records their change."""
    pointing = {}
    for relation in sender._meta.related_objects:
        if relation.many_to_many or not _set_on_delete(relation):
            continue
        related = relation.related_model
        if _resolved(related) is None:
            continue
        rows = related._base_manager.using(using).filter(**{relation.field.name: instance.pk})
        if pks := list(rows.values_list("pk", flat=True)):
            pointing[relation.field] = pks
    instance.__dict__["_audit_pointing"] = pointing


def _after_delete(sender, instance, using, **kwargs):
    for field, pks in instance.__dict__.pop("_audit_pointing", {}).items():
        related = field.model
        old = _stored_value(field, instance.pk)
        events = []
        for row in related._base_manager.using(using).filter(pk__in=pks):
            new = _stored_value(field, getattr(row, field.attname))
            if new != old:
                events.append(
                    _event(
                        AuditEvent.Action.UPDATE, row, {field.attname: old}, {field.attname: new}
                    )
                )
        AuditEvent.objects.using(using).bulk_create(events)
    resolved = _resolved(sender)
    if resolved is None:
        return
    before = _masked(_values(instance, resolved), resolved)
    _event(AuditEvent.Action.DELETE, instance, before, {}).save(using=using)


def _m2m_ids(field, pks) -> dict:
    """Object pk -> sorted ids it relates to through ``field``, for the objects ``pks``."""
    through = field.remote_field.through
    source, target = field.m2m_field_name(), field.m2m_reverse_field_name()
    ids: dict = {pk: [] for pk in pks}
    rows = through._default_manager.filter(**{f"{source}__in": list(pks)})
    for pk, other in rows.values_list(source, target):
        ids[pk].append(other)
    return {pk: sorted(values) for pk, values in ids.items()}


def _after_m2m_change(sender, instance, action, reverse, model, pk_set, using, **kwargs):
    """A many-to-many field of an audited model (a user's groups, a promotion's stores),
    changed from either side (``user.groups.add(g)`` or ``group.user_set.add(u)``): an update
    of each object on the field's side, with the ids before and after."""
    owner = model if reverse else type(instance)
    resolved = _resolved(owner)
    if resolved is None:
        return
    field = next((f for f in owner._meta.many_to_many if f.remote_field.through is sender), None)
    if field is None:
        return
    if action.startswith("pre_"):
        if not reverse:
            pks = [instance.pk]
        elif pk_set is not None:
            pks = list(pk_set)
        else:  # clear from the other side: every object related to ``instance``
            through = field.remote_field.through
            pks = list(
                through._default_manager.filter(
                    **{field.m2m_reverse_field_name(): instance.pk}
                ).values_list(field.m2m_field_name(), flat=True)
            )
        instance.__dict__.setdefault("_audit_m2m", {})[(field, action[4:])] = _m2m_ids(field, pks)
        return
    before = instance.__dict__.get("_audit_m2m", {}).pop((field, action[5:]), None)
    if not before:
        return
    after = _m2m_ids(field, before)
    changed = [pk for pk in before if before[pk] != after[pk]]
    objects = owner._base_manager.using(using).in_bulk(changed)
    AuditEvent.objects.using(using).bulk_create(
        _event(
            AuditEvent.Action.UPDATE,
            objects[pk],
            {field.name: before[pk]},
            {field.name: after[pk]},
        )
        for pk in changed
        if pk in objects
    )


_CHUNK = 500


def _chunks(items: list, size: int = _CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


class AuditedQuerySetMixin:
    """Bulk writes of an audited model record one event per row, like ``save()`` does.

    ``update()`` reads and locks the rows it is about to change (in chunks of primary keys,
    inside one transaction), updates those of them that still match the queryset, reads them
    again and records what differs.
    ``bulk_update()`` is covered too: Django implements it with ``update()``. Updates of
    bookkeeping fields only skip all of this, so the hot path costs nothing more.
    """

    def update(self, **kwargs):
        resolved = _resolved(self.model)
        if resolved is None or set(kwargs) <= resolved.excluded:
            return super().update(**kwargs)
        if self.query.is_sliced:
            raise TypeError("Cannot update a query once a slice has been taken.")
        plain = self.model._base_manager.using(self.db)
        count = 0
        with transaction.atomic(using=self.db, savepoint=False):
            pks = list(self.order_by().values_list("pk", flat=True).distinct())
            for chunk in _chunks(pks):
                # Locked in pk order, so *before* is what the update changes and two bulk
                # updates take the locks in the same order.
                rows = plain.filter(pk__in=chunk).order_by("pk")
                if connections[self.db].features.has_select_for_update:
                    rows = rows.select_for_update()
                before = {obj.pk: _values(obj, resolved) for obj in rows}
                # The queryset's own conditions still apply: a compare-and-set such as
                # filter(pk=..., customer__isnull=True).update(...) keeps its count.
                mine = self.filter(pk__in=chunk)
                count += super(AuditedQuerySetMixin, mine).update(**kwargs)
                events = []
                for obj in plain.filter(pk__in=chunk).order_by("pk"):
                    event = _update_event(
                        obj, before.get(obj.pk, {}), _values(obj, resolved), resolved
                    )
                    if event is not None:
                        events.append(event)
                AuditEvent.objects.using(self.db).bulk_create(events)
        return count

    update.alters_data = True

    def bulk_create(self, objs, *args, **kwargs):
        created = super().bulk_create(objs, *args, **kwargs)
        resolved = _resolved(self.model)
        if resolved is not None and created:
            note = "bulk_create (upsert)" if kwargs.get("update_conflicts") else "bulk_create"
            AuditEvent.objects.using(self.db).bulk_create(
                _event(
                    AuditEvent.Action.CREATE,
                    obj,
                    {},
                    _masked(_values(obj, resolved), resolved),
                    note,
                )
                for obj in created
            )
        return created

    bulk_create.alters_data = True


_QUERYSET_CLASSES: dict[type, type] = {}


def audited_queryset_class(queryset_class: type) -> type:
    """``queryset_class`` with ``AuditedQuerySetMixin`` in front, made once and importable
    from this module by name (so querysets still pickle)."""
    if issubclass(queryset_class, AuditedQuerySetMixin):
        return queryset_class
    if queryset_class not in _QUERYSET_CLASSES:
        name = "Audited_{}_{}".format(
            queryset_class.__module__.replace(".", "_"), queryset_class.__name__
        )
        cls = type(name, (AuditedQuerySetMixin, queryset_class), {"__module__": __name__})
        cls.__qualname__ = name
        globals()[name] = cls
        _QUERYSET_CLASSES[queryset_class] = cls
    return _QUERYSET_CLASSES[queryset_class]


def _audit_manager(manager) -> None:
    """Swap ``manager``'s class for a subclass whose querysets are audited. Related managers
    (``batch.cards``) are built from the default manager's class, so they are audited too."""
    if isinstance(manager.get_queryset(), AuditedQuerySetMixin):
        return
    original = type(manager)
    queryset_class = audited_queryset_class(manager._queryset_class)

    def deconstruct(self):
        # Migrations keep seeing the original manager: the swap is not a schema change.
        plain = copy.copy(self)
        plain.__class__ = original
        return plain.deconstruct()

    def __eq__(self, other):
        return isinstance(other, original) and self._constructor_args == other._constructor_args

    manager.__class__ = type(
        f"Audited{original.__name__}",
        (original,),
        {
            "_queryset_class": queryset_class,
            "deconstruct": deconstruct,
            "__eq__": __eq__,
            "__hash__": original.__hash__,
            "__module__": original.__module__,
        },
    )


def install() -> None:
    """Connect the receivers and audit the default managers of every model in ``AUDITED``.
    Called once from ``AuditConfig.ready()`` (the first app), before anything builds a related
    manager."""
    from django.apps import apps
    from django.db.models import signals

    from audit.registry import AUDITED, NOT_AUDITED

    both = set(AUDITED) & set(NOT_AUDITED)
    if both:
        raise LookupError(f"audited and not audited at once: {sorted(both)}")
    for label, policy in AUDITED.items():
        model = apps.get_model(label)
        _POLICIES[model] = _resolve(model, policy)
        uid = f"audit:{label}"
        signals.pre_save.connect(_before_save, sender=model, dispatch_uid=uid)
        signals.post_save.connect(_after_save, sender=model, dispatch_uid=uid)
        signals.post_delete.connect(_after_delete, sender=model, dispatch_uid=uid)
        signals.pre_delete.connect(_before_delete, sender=model, dispatch_uid=uid)
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            signals.m2m_changed.connect(
                _after_m2m_change, sender=through, dispatch_uid=f"{uid}:{field.name}"
            )
        manager = model._meta.default_manager
        _audit_manager(manager)
        for local in model._meta.local_managers:
            if local.name == manager.name:
                _audit_manager(local)


def event_columns(model, action: str) -> tuple[str, list]:
    """The columns and values of an event about a ``model`` row in the current context, for
    statements written by hand (the purchase path's batch): the caller adds ``object_id``,
    ``object_repr``, ``before``, ``after`` and ``note``."""
    actor = current_actor()
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
    return (
        "at, user_id, username, address, source, action, content_type_id",
        [
            timezone.now(),
            user.pk if user is not None else None,
            user.get_username() if user is not None else "",
            actor.address,
            actor.source,
            action,
            content_type.pk,
        ],
    )


def stored(model, field_name: str, value):
    """``value`` of ``model.field_name`` as the trail stores it."""
    return _stored_value(model._meta.get_field(field_name), value)


def record_inserted(
    model, *, where: str, params: list, note: str = "", repr_column: str | None = None
) -> int:
    """Record a CREATE event for each row of ``model`` matching ``where`` in one INSERT ...
    SELECT, for rows loaded past the ORM (PostgreSQL COPY of a million cards): one event per
    row, as ``bulk_create`` writes, at the database's speed. Returns the number of events.

    ``where`` is trusted SQL over the model's table with ``%s`` placeholders for ``params``.
    PostgreSQL only: the values are built with ``jsonb_build_object``.
    """
    from django.db import connection

    resolved = _resolved(model)
    if resolved is None:
        return 0
    quote = connection.ops.quote_name
    pairs = ", ".join(
        f"'{field.attname}', {quote(field.column)}"
        for field in resolved.fields
        if field.attname not in resolved.personal
    )
    actor = current_actor()
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
    pk_column = quote(model._meta.pk.column)
    object_repr = f"left({quote(repr_column)}::text, 200)" if repr_column else "''"
    sql = (
        "INSERT INTO loyalty_auditevent (at, user_id, username, address, source, action,"
        " content_type_id, object_id, object_repr, before, after, note)"
        f" SELECT %s, %s, %s, %s, %s, %s, %s, {pk_column}::text, {object_repr}, '{{}}'::jsonb,"
        f" jsonb_build_object({pairs}), %s FROM {quote(model._meta.db_table)} WHERE {where}"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                timezone.now(),
                user.pk if user is not None else None,
                user.get_username() if user is not None else "",
                actor.address,
                actor.source,
                AuditEvent.Action.CREATE,
                content_type.pk,
                note,
                *params,
            ],
        )
        return cursor.rowcount


def on_customer_anonymised(sender, customer, user, reason, before, after, **_kwargs) -> None:
    """``crm.signals.customer_anonymised`` receiver: the ANONYMISE event, in its transaction."""
    record(
        AuditEvent.Action.ANONYMISE, customer, before=before, after=after, note=reason, user=user
    )
