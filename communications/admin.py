from django.contrib import admin
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
    readonly_fields = [f.name for f in Message._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
