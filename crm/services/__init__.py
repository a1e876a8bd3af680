from crm.services.customers import (
    consent_set,
    customer_birth_date_check,
    customer_create,
    customer_email_check,
    customer_phone_check,
    customer_referral_code_check,
    customer_referrer_find,
    customer_update,
)
from crm.services.profile import (
    profile_answer_parse,
    profile_answer_set,
    profile_answers_get,
    profile_answers_set,
)

__all__ = [
    "consent_set",
    "customer_birth_date_check",
    "customer_create",
    "customer_email_check",
    "customer_phone_check",
    "customer_referral_code_check",
    "customer_referrer_find",
    "customer_update",
    "profile_answer_parse",
    "profile_answer_set",
    "profile_answers_get",
    "profile_answers_set",
]
