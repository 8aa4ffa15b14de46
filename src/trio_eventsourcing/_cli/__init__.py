"""The command line.

Arguments, commands, output, progress, errors and the demo: formatting and orchestration.
The stores' inspectors are their backends' (``_stores/<backend>/inspector.py``).
"""
