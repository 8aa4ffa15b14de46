"""The stores: what durable stores share, then one package per backend."""
