"""``{% audit_trail_link original %}``: the "Audit trail" button on an audited object's page."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _

from audit.trail import is_audited, object_id

register = template.Library()


@register.simple_tag(takes_context=True)
def audit_trail_link(context, obj) -> str:
    request = context.get("request")
    if obj is None or obj.pk is None or request is None or not is_audited(type(obj)):
        return ""
    if not request.user.has_perm("audit.view_auditevent"):
        return ""
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=False)
    query = urlencode({"content_type__id__exact": content_type.pk, "object_id": object_id(obj)})
    url = f"{reverse('admin:audit_auditevent_changelist')}?{query}"
    return format_html(
        '<li><a href="{}" class="audit-trail-link">{}</a></li>', url, _("Audit trail")
    )
