"""The stores: what durable stores share, the inspection interface, then one package per backend.

``backends.py`` lists the backends the command line can open (see ``inspection.backend``).
"""
