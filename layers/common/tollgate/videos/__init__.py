"""Video generation as asynchronous jobs: the request (``request``) and the jobs (``jobs``)."""
