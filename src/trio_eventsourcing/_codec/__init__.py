"""Codecs: the interface, JsonCodec for frozen dataclasses, and upcasting."""
