"""Every factory of the test suite, one module per app."""

from tests.factories.crm import (  # noqa: F401
    ConsentFactory,
    CustomerFactory,
    FamilyMemberFactory,
    ProfileQuestionChoiceFactory,
    ProfileQuestionFactory,
)
