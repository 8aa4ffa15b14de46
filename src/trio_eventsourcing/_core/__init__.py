"""Storage-independent event sourcing.

Records, errors, validated values, the store and log interfaces, the system (router and
workers) and the seed's functions.
"""
