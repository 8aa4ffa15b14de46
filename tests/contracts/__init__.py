"""Test suites written once and run against every implementation (see ``StoreContract``)."""
