"""The tenant domain: the ``Tenant`` aggregate, its events and its rules.

Imports nothing of ours.
"""
