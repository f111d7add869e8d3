"""Plays the Lambda runtime for the bundled handler, in the runtime's Python version.

Started with only the bundle (and a stand-in for the runtime's boto3) on sys.path; reads
one JSON request per line, {"entry": "on_event" | "is_complete", "event": {...}}, and
answers one JSON line: {"response": ...} or {"error": "..."}.
"""

import importlib
import json
import sys


def main() -> None:
    handler = importlib.import_module("entra_saml_app.handler")
    for line in sys.stdin:
        request = json.loads(line)
        try:
            response = getattr(handler, request["entry"])(request["event"], None)
            answer = {"response": response}
        except Exception as error:
            answer = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
