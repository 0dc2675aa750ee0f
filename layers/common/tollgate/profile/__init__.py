"""The account's profile as its own people correct it (``PATCH /v1/account``): its name,
company, language, notification preferences and low-balance threshold (``corrections``)."""
