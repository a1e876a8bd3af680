from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from communications.models import Message


@admin.register(Message)
class MessageAdmin(ModelAdmin):
    """The outbox (read-only): what was queued to whom, through which channel."""

    list_display = ["created_at", "customer", "channel", "address", "status", "promotion"]
    list_filter = ["status", "channel"]
    search_fields = ["address", "text", "customer__last_name", "customer__public_id"]
    list_select_related = ["customer", "promotion"]
    date_hierarchy = "created_at"
    # A verification code's text is the code itself: nobody reads it here (crm.ContactVerification).
    readonly_fields = ["text_shown" if f.name == "text" else f.name for f in Message._meta.fields]
    fields = readonly_fields

    @admin.display(description=_("text"))
    def text_shown(self, obj):
        if obj.verification_id is not None:
            return _("a verification code or link (hidden)")
        return obj.text

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
