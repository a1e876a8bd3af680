from crm.models.customers import Consent, Customer
from crm.models.duplicates import DuplicateSuggestion
from crm.models.profile import (
    Car,
    FamilyMember,
    MemorableDate,
    ProfileAnswer,
    ProfileQuestion,
    ProfileQuestionChoice,
)
from crm.models.segments import (
    Segment,
    SegmentMember,
    SegmentMembershipChange,
    SegmentRefresh,
)
from crm.models.verification import ContactVerification

__all__ = [
    "Car",
    "Consent",
    "ContactVerification",
    "Customer",
    "DuplicateSuggestion",
    "FamilyMember",
    "MemorableDate",
    "ProfileAnswer",
    "ProfileQuestion",
    "ProfileQuestionChoice",
    "Segment",
    "SegmentMember",
    "SegmentMembershipChange",
    "SegmentRefresh",
]
