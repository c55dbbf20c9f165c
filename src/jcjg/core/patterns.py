"""Patterns of contact data that forms, specs and messages validate alike."""

MOBILE = r"1[3-9][0-9]{9}"  # a mainland mobile number
PHONE = r"[0-9+\-() ]{5,32}"  # a landline, with area code, extension or country code
EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"
