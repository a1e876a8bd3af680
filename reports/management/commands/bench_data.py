"""``manage.py bench_data``: generate the load-benchmark database (bench/data.py, docs/benchmarks.md)."""

import random
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from bench import data


class Command(BaseCommand):
    help = (
        "Generate a benchmark coalition into the configured database: partners, stores, "
        "terminals with API keys (written to bench/.keys.json), a catalogue, N customers with "
        "cards and accounts, and a ledger history of at least M entries. PostgreSQL COPY; "
        "SQLite only for small sizes. Refuses a database that holds other data unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=1_000_000)
        parser.add_argument(
            "--entries", type=int, default=10_000_000, help="Ledger entries to reach (at least)."
        )
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--chunk", type=int, default=25_000, help="Customers per COPY batch (whole postings)."
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Empty every table of the project's apps first (bench data only, or --force).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Write into (or with --reset, empty) a database that holds non-bench data.",
        )
        parser.add_argument(
            "--no-vacuum", action="store_true", help="Skip VACUUM ANALYZE of the bulk tables."
        )
        parser.add_argument(
            "--keys",
            type=Path,
            default=data.KEYS_FILE,
            help="Where to write the terminals' API keys (default bench/.keys.json).",
        )
        parser.add_argument(
            "--check-sample",
            type=int,
            default=1000,
            help="Accounts to run ledger_violations() on afterwards (0: skip).",
        )

    def handle(self, *args, customers, entries, seed, chunk, reset, force, no_vacuum, **options):
        if customers < 1 or entries < 0:
            raise CommandError("--customers must be >= 1 and --entries >= 0.")
        if connection.vendor == "sqlite" and customers > data.SQLITE_MAX_CUSTOMERS:
            raise CommandError(
                f"SQLite takes at most {data.SQLITE_MAX_CUSTOMERS:,} bench customers; set "
                "DATABASE_URL to a PostgreSQL database (e.g. createdb loyalty_bench)."
            )
        if connection.vendor not in ("postgresql", "sqlite"):
            raise CommandError(f"Unsupported database {connection.vendor}.")
        foreign = data.foreign_data()
        if foreign and not force:
            raise CommandError(
                f"The database {connection.settings_dict.get('NAME')} holds data that is not "
                f"bench data ({', '.join(foreign)}). Use a separate database, or --force."
            )
        if data.bench_data_present():
            if not reset:
                raise CommandError("Bench data is already there; add --reset to regenerate it.")
        if reset:
            self.stdout.write("emptying the project's tables ...")
            data.reset_tables()
        self.stdout.write(
            f"generating {customers:,} customers and >= {entries:,} ledger entries into "
            f"{connection.vendor} database {connection.settings_dict.get('NAME')} ..."
        )
        summary = data.generate(
            customers=customers,
            entries=entries,
            seed=seed,
            chunk_size=chunk,
            vacuum=not no_vacuum,
            keys_file=options["keys"],
            log=self.stdout.write,
        )
        self.stdout.write(
            f"customers {summary.customers:,}, receipts {summary.receipts:,}, postings "
            f"{summary.postings:,} ({summary.spends:,} spends), ledger entries "
            f"{summary.entries:,}, lots {summary.lots:,}; {summary.terminals} terminals, "
            f"{summary.products} products"
        )
        for name, seconds in summary.timings.items():
            self.stdout.write(f"  {name:<24} {seconds:8.1f} s")
        self.stdout.write(f"keys: {options['keys']}")
        sample = options["check_sample"]
        if sample:
            self._check(sample, seed)

    def _check(self, sample: int, seed: int) -> None:
        from loyalty.models import Account
        from loyalty.reconciliation import ledger_violations

        ids = list(Account.objects.filter(kind=Account.Kind.CUSTOMER).values_list("pk", flat=True))
        chosen = random.Random(seed).sample(ids, k=min(sample, len(ids)))
        problems = ledger_violations(account_ids=chosen)
        if problems:
            for problem in problems[:20]:
                self.stderr.write(problem)
            raise CommandError(f"ledger_violations: {len(problems)} problems in the sample")
        self.stdout.write(f"ledger_violations(account_ids=<{len(chosen)} random accounts>) == []")
