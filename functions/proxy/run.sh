#!/bin/bash
# The Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap) runs this script and forwards
# each invocation to uvicorn as a plain HTTP request, streaming the response back. serve.py is
# `python -m uvicorn --host 127.0.0.1 --port "${PORT:-8080}" --no-access-log app:app` without
# uvicorn's command line (click), which a cold start would import for nothing.
PATH=$PATH:$LAMBDA_TASK_ROOT/bin \
    PYTHONPATH=$PYTHONPATH:/opt/python:$LAMBDA_RUNTIME_DIR \
    exec python "$(dirname "$0")/serve.py"
