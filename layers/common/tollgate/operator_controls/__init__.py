"""The platform operator's controls over customer accounts: suspension and the account list."""
