"""The promotions as the engine reads them: compiled from the database into a ``RulesSnapshot``
(``snapshot``: cached per process, invalidated when any promotion changes) and, for a receipt
sold before the last change, the snapshot of the rules in force then (``history``).

``promotions.engine`` evaluates a snapshot and imports none of this: it never sees the ORM.
"""
