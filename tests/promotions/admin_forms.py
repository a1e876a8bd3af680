"""What a browser would post back for an admin add or change page, as the page shows it."""

from __future__ import annotations

from django import forms


def admin_form_data(response) -> dict:
    """The main form and every inline of the page's context as POST data, unchanged.

    Tests change what they need and post it: the data stays whole when the form gains a field.
    """
    page_forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        page_forms += [inline.formset.management_form, *inline.formset.forms]
    data = {}
    for form in page_forms:
        for name in form.fields:
            _put(data, form[name], form.add_prefix(name))
    return data


def _put(data: dict, bound, key: str) -> None:
    widget = bound.field.widget
    widget = getattr(widget, "widget", widget)  # the admin's related-object wrapper
    value = bound.value()
    if isinstance(widget, forms.MultiWidget):  # a date and a time
        parts = value if isinstance(value, list) else widget.decompress(value)
        for index, (part_widget, part) in enumerate(zip(widget.widgets, parts, strict=True)):
            data[f"{key}_{index}"] = part_widget.format_value(part) or ""
    elif isinstance(widget, forms.CheckboxInput):
        if value:
            data[key] = "on"
    elif value is None and getattr(widget, "allow_multiple_selected", False):
        return  # nothing ticked
    elif isinstance(value, list | tuple):
        data[key] = [str(item) for item in value]
    else:
        data[key] = "" if value is None else str(value)
