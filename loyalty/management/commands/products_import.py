from loyalty.management.bulk_import import BulkImportCommand
from loyalty.services.product_import import REQUIRED, products_import_bulk


class Command(BulkImportCommand):
    help = (
        "Import a product catalogue, CSV or XLSX (sku[,name,partner,category,brand,is_active,"
        "is_gift_card]): products are created or updated by (partner, SKU); every row is "
        "checked first, then all are written in one transaction, or none."
    )
    noun = "products"
    required = REQUIRED
    partner_help = "partner code for rows that leave the partner column empty (default: shared)"

    def import_bulk(self, rows, *, default_partner, dry_run):
        return products_import_bulk(rows, default_partner=default_partner, dry_run=dry_run)
