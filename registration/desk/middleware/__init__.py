"""The desk app's middlewares, one a module, outermost first in :func:`registration.desk.app.make_desk_app`.

The Host must be this app's own address (a DNS-rebinding page names another), a form must come from this
origin (``Origin``) and carry its session's CSRF token (before login, a double-submit token), and every
answer carries a strict CSP, ``no-store`` and ``nosniff`` (:mod:`.local_only`); the server's trouble is said
on a page (:mod:`.server_trouble`); pages need a desk session (:mod:`.logged_in`).
"""
