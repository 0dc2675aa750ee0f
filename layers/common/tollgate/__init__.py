"""Tollgate's shared layer: every piece of logic the functions wire together."""
