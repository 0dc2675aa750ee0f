"""The account's export of everything Tollgate holds about it, as one ZIP of JSON and CSV files.

``POST /v1/account/exports`` records a ``pending`` export and queues it (``requests``);
ExportFunction takes it from the queue and writes the ZIP (``job``: the files are listed in
``contents``, written by ``bundle``); ``GET /v1/account/exports/{id}`` shows its status and,
once ``ready``, a download link valid five minutes. The ZIP expires after seven days.
"""
