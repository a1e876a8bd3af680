"""What keeps the promotion page fast without changing its HTML: autocomplete pickers that
ask nothing of the database when nothing is chosen, and formsets that build their empty form
(the row "add another" copies) once. ``promotions.admin.builder`` uses them."""

from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.utils.functional import cached_property


class NothingChosenMixin:
    """An autocomplete picker that asks nothing of the database when nothing is chosen:
    Django's builds and compiles a query for the chosen rows' labels to learn that there are
    none, ~0.5 ms a picker (the promotion page has twenty, most of them empty)."""

    def optgroups(self, name, value, attr=None):
        if any(str(v) not in self.choices.field.empty_values for v in value):
            return super().optgroups(name, value, attr)
        blank = not self.is_required and not self.allow_multiple_selected
        return [(None, [self.create_option(name, "", "", False, 0)] if blank else [], 0)]


class QuickAutocompleteSelect(NothingChosenMixin, AutocompleteSelect):
    pass


class QuickAutocompleteSelectMultiple(NothingChosenMixin, AutocompleteSelectMultiple):
    pass


class QuickPickers:
    """The admin's autocomplete pickers as ``Quick...`` above, otherwise Django's own."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = QuickAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = QuickAutocompleteSelectMultiple(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class OneEmptyForm:
    """A formset whose empty form (the row the page copies for "add another") is built once:
    Django builds a new one each time it is asked, and the admin's page asks six to eight
    times per inline (the media, the prepopulated fields, unfold's nested inlines, each pass
    of the templates)."""

    @cached_property
    def empty_form(self):
        return super().empty_form


def one_empty_form(formset):
    return type(formset.__name__, (OneEmptyForm, formset), {})
