"""The segments admin's "New from a ready segmentation" page: pick a type, fill in its
parameters (the fields are rendered from the type's ``Param`` declarations), preview the size
of each segment it would make, then create them (``crm.segments.segmentations``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.apps import apps
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm.errors import SegmentationError
from crm.models import Segment
from crm.segments.params import Param
from crm.segments.segmentations import (
    Segmentation,
    segmentation_create,
    segmentation_get,
    segmentation_preview,
    segmentations,
)

WINDOW_PARTS = ("last_days", "from", "to")


def _window_initial(raw: Any) -> dict[str, Any]:
    return {part: raw.get(part) for part in WINDOW_PARTS} if isinstance(raw, dict) else {}


class SegmentationForm(forms.Form):
    """The programme, the codes' prefix and the parameters of ``segmentation``. A window is
    three fields (the last N days, or from / to dates)."""

    def __init__(self, segmentation: Segmentation, model_admin, request, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.segmentation = segmentation
        programme_field = Segment._meta.get_field("programme")
        programmes = model_admin.formfield_for_foreignkey(programme_field, request).queryset
        self.fields["programme"] = forms.ModelChoiceField(
            programmes, label=_("programme"), initial=programmes.first() if programmes else None
        )
        self.fields["prefix"] = forms.CharField(
            label=_("prefix of the codes"),
            max_length=40,
            initial=segmentation.code,
            help_text=_("The segments' codes are the prefix, a dash and the segment's name."),
        )
        for param in segmentation.params:
            self._add(param, model_admin, request)

    def _add(self, param: Param, model_admin, request) -> None:
        initial = self.segmentation.initial.get(param.name)
        common = {"label": param.label, "help_text": param.help_text}
        if param.type == "window":
            window = _window_initial(initial)
            self.fields[f"{param.name}__last_days"] = forms.IntegerField(
                label=_("%(label)s: the last days") % {"label": param.label},
                min_value=1,
                required=False,
                initial=window.get("last_days"),
                help_text=_("Or the dates below."),
            )
            for part, label in (("from", _("from")), ("to", _("to"))):
                self.fields[f"{param.name}__{part}"] = forms.DateField(
                    label=f"{param.label}: {label}",
                    required=False,
                    initial=window.get(part),
                    widget=forms.DateInput(attrs={"type": "date"}),
                )
            return
        field: forms.Field
        if param.type == "int":
            field = forms.IntegerField(required=False, initial=initial, **common)
        elif param.type == "decimal":
            field = forms.DecimalField(
                required=False, decimal_places=param.places, initial=initial, **common
            )
        elif param.type == "choice":
            choices = param.choices() if callable(param.choices) else param.choices
            field = forms.ChoiceField(
                choices=list(choices), required=param.required, initial=initial, **common
            )
        elif param.type == "ids":
            model = apps.get_model(param.model)
            related_admin = model_admin.admin_site._registry.get(model)
            rows = (
                related_admin.get_queryset(request)
                if related_admin is not None
                else model._default_manager.all()
            )
            field = forms.ModelMultipleChoiceField(rows, required=False, **common)
        elif param.type == "bool":
            field = forms.BooleanField(required=False, initial=initial, **common)
        else:  # a type no ready segmentation declares yet: written as text
            field = forms.CharField(required=False, initial=initial, **common)
        self.fields[param.name] = field

    def params(self) -> dict[str, Any]:
        """The parameters as the service takes them (JSON values), empty ones left out."""
        data = self.cleaned_data
        out: dict[str, Any] = {}
        for param in self.segmentation.params:
            if param.type == "window":
                window = {
                    part: data.get(f"{param.name}__{part}")
                    for part in WINDOW_PARTS
                    if data.get(f"{param.name}__{part}") not in (None, "")
                }
                if "from" in window:
                    window["from"] = window["from"].isoformat()
                if "to" in window:
                    window["to"] = window["to"].isoformat()
                if window:
                    out[param.name] = window
                continue
            value = data.get(param.name)
            if value in (None, "", []) or (param.type == "bool" and value is False):
                continue
            if param.type == "ids":
                out[param.name] = sorted(row.pk for row in value)
            elif param.type == "decimal":
                out[param.name] = str(value)
            else:
                out[param.name] = value
        return out

    def error_from(self, exc: SegmentationError) -> None:
        """Show ``exc`` on the field of the parameter it names (or above the form)."""
        name = exc.param
        if name and f"{name}__last_days" in self.fields:
            name = f"{name}__last_days"
        self.add_error(name if name in self.fields else None, str(exc.detail))


def _may_create_in(model_admin, request, programme) -> bool:
    """Whether the user may add segments to ``programme`` (partner staff: their own)."""
    may_change = getattr(model_admin, "_may_change", None)
    return may_change is None or may_change(request, Segment(programme=programme))


def segmentation_view(model_admin, request):
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    kind = request.POST.get("kind") or request.GET.get("kind") or ""
    segmentation = segmentation_get(kind)
    form = previews = None
    if segmentation is not None:
        form = SegmentationForm(segmentation, model_admin, request, request.POST or None)
        if request.method == "POST" and form.is_valid():
            programme = form.cleaned_data["programme"]
            arguments = {
                "kind": segmentation.code,
                "params": form.params(),
                "prefix": form.cleaned_data["prefix"],
            }
            try:
                if not _may_create_in(model_admin, request, programme):
                    raise PermissionDenied
                if "_create" in request.POST:
                    made = segmentation_create(programme=programme, user=request.user, **arguments)
                    model_admin.message_user(
                        request,
                        _("%(count)s segments created and refreshed: %(names)s.")
                        % {
                            "count": len(made),
                            "names": ", ".join(f"{one.name} ({one.size})" for one in made),
                        },
                        messages.SUCCESS,
                    )
                    url = reverse("admin:crm_segment_changelist")
                    query = urlencode(
                        {"q": arguments["prefix"], "programme__id__exact": programme.pk}
                    )
                    return redirect(f"{url}?{query}")
                previews = segmentation_preview(programme_id=programme.pk, **arguments)
            except SegmentationError as exc:
                form.error_from(exc)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Segment._meta,
        "title": _("New from a ready segmentation"),
        "types": segmentations(),
        "segmentation": segmentation,
        "kind": kind,
        "unknown": bool(kind) and segmentation is None,
        "form": form,
        "previews": previews,
    }
    return TemplateResponse(request, "admin/crm/segment/segmentation.html", context)
