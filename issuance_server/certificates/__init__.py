"""Certificates: every kind rendered from its layout, the signed QR record, PAdES, and verification.

Entry point: ``render.render_certificate(CertificateRequest, key)``. Modules: ``template`` (layouts as
data, ``templates/*.toml``), ``layout`` (what any template prints, paginated) and ``drawing`` (its PDF,
with ``pdf_page``, ``page_items`` and ``pdf_graphics``), ``juminhyo`` / ``inkan`` / ``tax`` (each kind's values), ``formatting`` and ``wareki`` (how values print), ``anticopy`` (地紋 and micro
text), ``seal`` and ``outlines`` (seals as vectors), ``qr`` and ``record`` (the signed QR), ``fonts`` and
``unicode_ttfont``, ``pades`` (PDF signatures), ``verify`` / ``verify_cli`` / ``verify_page``.
Import the submodules directly; this package imports nothing heavy so that ``konbini-verify`` starts fast.
"""
