"""Rule segments: a rule over the customer base, evaluated in SQL, whose result is kept as the
segment's member rows (what the registers, promotions and mailings read).

- ``registry``: the kinds of condition. Each app registers its own from its
  ``AppConfig.ready`` (crm: the profile; loyalty: cards, tiers, balances, purchases;
  promotions: rewards and coupons), so this package imports no app above crm;
- ``params``: the parameter types the kinds declare (the admin builder reads them too);
- ``rules``: the rule's shape, its check and canonical form (``rule_clean``);
- ``compile``: a rule as one ``Q`` over ``Customer`` (``rule_members``);
- ``refresh``: the members recomputed and the difference applied in SQL, with the history;
- ``preview``: the size and the first customers of an unsaved rule.

The rule format is described in docs/segments.md.
"""
