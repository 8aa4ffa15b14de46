"""The command line.

Arguments, commands, output, progress, errors, the demo and the stores' inspectors.
"""
