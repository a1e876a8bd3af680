"""Background imports of product catalogue and store files (``DataImport``)."""

from __future__ import annotations

from loyalty.models import DataImport
from loyalty.services import product_import, store_import
from loyalty.services.imports import ImportReport, Progress, file_rows, import_job_run

IMPORTERS = {
    DataImport.Kind.PRODUCTS: (product_import.REQUIRED, product_import.products_import_bulk),
    DataImport.Kind.STORES: (store_import.REQUIRED, store_import.stores_import_bulk),
}


def data_import_run(data_import: DataImport) -> DataImport:
    """Run a queued product or store import (CSV or XLSX) and record its progress and outcome.

    Safe to run twice: an import that is no longer queued is left as it is.
    """
    required, import_bulk = IMPORTERS[DataImport.Kind(data_import.kind)]

    def load(progress: Progress) -> ImportReport:
        with data_import.file.open("rb") as binary:
            name = data_import.file.name
            assert name is not None  # open() found the file
            rows = list(file_rows(binary, name, required))
        return import_bulk(rows, default_partner=data_import.partner, progress=progress)

    return import_job_run(data_import, load)
