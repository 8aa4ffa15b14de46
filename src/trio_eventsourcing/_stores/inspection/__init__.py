"""Inspection of a store as stored, for the command line: what every backend's inspector shares.

The interface and its rows (:mod:`.records`), the error an inspector raises
(:mod:`.errors`), the queries that read the same in every backend (:mod:`.rows`,
:mod:`.projections`, :mod:`.process_managers`) and what a backend gives to be found
(:mod:`.backend`). Each backend's inspector lives in its folder (``sqlite/inspector.py``,
``postgres/inspector.py``); ``_stores.backends`` lists them.
"""
