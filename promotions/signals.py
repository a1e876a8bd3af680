"""Domain events of the promotions, for the outer apps (communications) to subscribe to.

``occasion_rewarded`` is sent inside the transaction of the firing, once per firing made (a
retry that finds the occasion rewarded sends nothing). Arguments: ``firing`` (the saved
``TriggerFiring``), ``rule`` (the promotion's ``PromotionRule``), ``points`` (a list of
``(currency code, amount, expires_at)`` the customer got).

``coupons_issued`` is sent inside the transaction that issued coupons to a customer for their
next purchase (a purchase's reward). Arguments: ``customer``, ``coupons`` (the saved
``Coupon`` rows), ``receipt`` (the purchase that earned them).
"""

from __future__ import annotations

from django.dispatch import Signal

occasion_rewarded = Signal()
coupons_issued = Signal()
