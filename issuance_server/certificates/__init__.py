"""Certificates: layouts rendered to PDF, the signed QR record, and its offline verification.

Import the submodules directly (``record``, ``juminhyo``, ``verify``); this package imports nothing heavy so
that ``konbini-verify`` starts fast.
"""
