"""Domain errors of the promotions app, each with a stable ``code`` slug."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from loyalty.errors import LoyaltyError


class DrawError(LoyaltyError):
    code = "draw_error"
    status = 409
    message = _("The prize draw cannot be run.")


class DrawNotDue(DrawError):
    code = "draw_not_due"
    message = _("The draw's period has not ended yet.")


class DrawCancelled(DrawError):
    code = "draw_cancelled"
    message = _("The draw is cancelled.")


class DrawAlreadyDrawn(DrawError):
    code = "draw_drawn"
    message = _("The draw has been drawn already; its record cannot change.")


class DrawNotDrawn(DrawError):
    code = "draw_not_drawn"
    message = _("The draw has not been drawn yet.")


class DrawSeedFixed(DrawError):
    code = "draw_seed_fixed"
    message = _("The draw's seed was fixed beforehand; another seed cannot be used.")


class DrawSeedTooLate(DrawError):
    code = "draw_seed_too_late"
    message = _(
        "A seed fixed beforehand must be committed before the period ends: clear it, and a "
        "random seed is drawn at the draw."
    )


class DrawSeedInvalid(DrawError):
    code = "draw_seed_invalid"
    status = 422
    message = _("A seed is 32 to 128 hexadecimal digits.")
