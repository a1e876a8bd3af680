from django.db import migrations


# The audit trail moved to the audit app (audit 0001): the table stays, the state leaves.
class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0022_currency_spend_block"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(
                    model_name="auditevent",
                    name="loyalty_aud_content_a2c860_idx",
                ),
                migrations.DeleteModel(name="AuditEvent"),
            ],
        ),
    ]
