"""Per-terminal rate limits (DRF throttling), one bucket per terminal and scope.

DRF's stock throttles key anonymous API-key traffic by IP, so every till behind a store's NAT
would share one bucket; this one keys on the authenticated terminal. Scopes are set per view
(``throttle_scope``): ``purchase``, ``lookup`` (card and customer reads and registration,
stricter: enumeration) and ``offline``. Rates come from ``settings.API_THROTTLE_RATES`` and are
read on every call, so a settings override applies at once.

Throttling is for fairness, not security: the counters live in the cache and are approximate.
A cache that fails lets the call through rather than refusing a sale.
"""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from loyalty.models import Terminal

logger = logging.getLogger(__name__)


class TerminalRateThrottle(SimpleRateThrottle):
    cache_format = "api-throttle:%(scope)s:%(ident)s"

    def __init__(self):
        # The scope is only known once the view is; SimpleRateThrottle reads it here.
        self.rate = None

    def allow_request(self, request, view) -> bool:
        self.scope = getattr(view, "throttle_scope", None)
        if not self.scope or not isinstance(request.auth, Terminal):
            return True
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except Exception:  # a cache outage must not stop the tills
            logger.warning("throttle cache unavailable; letting the call through", exc_info=True)
            return True

    def get_rate(self) -> str | None:
        if self.scope is None:  # a view without a scope is not throttled
            return None
        return settings.API_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
