"""Lambda handler of the EntraSamlApplication custom resource (entry points in handler.py)."""
