from loyalty.management.bulk_import import BulkImportCommand
from loyalty.services.store_import import REQUIRED, stores_import_bulk


class Command(BulkImportCommand):
    help = (
        "Import stores, CSV or XLSX (code[,partner,name,channel,city,address,timezone,"
        "is_active,opened_at,closed_at]): stores are created or updated by code; every row is "
        "checked first, then all are written in one transaction, or none."
    )
    noun = "stores"
    required = REQUIRED
    partner_help = "partner code for new stores that leave the partner column empty"

    def import_bulk(self, rows, *, default_partner, dry_run):
        return stores_import_bulk(rows, default_partner=default_partner, dry_run=dry_run)
