"""Template filters of ``loyalty.declension``, for the unfold templates overridden under
``templates/``: ``{{ opts|accusative }}`` ("акцию") and ``{{ count|counted:opts }}``
("5 акций")."""

from django import template

from loyalty import declension

register = template.Library()


@register.filter
def accusative(opts) -> str:
    """The model of ``opts`` (a model's ``_meta``, or an inline) named as a verb's object."""
    return declension.accusative(opts.verbose_name)


@register.filter
def counted(count, opts) -> str:
    """``count`` and the model of ``opts`` in the plural form the number needs."""
    return declension.counted(int(count or 0), opts)
