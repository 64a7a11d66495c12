"""What the desk app and its requests hold (aiohttp keys), and its cookies' names."""

from __future__ import annotations

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from devices.printing import Printer
from registration.desk.customer import PinEntry
from registration.desk.registering import RegistrationSlot
from registration.desk.server_api import ServerApi
from registration.desk.sessions import DeskSession, DeskSessions

API: web.AppKey[ServerApi] = web.AppKey("api", ServerApi)
SESSIONS: web.AppKey[DeskSessions] = web.AppKey("sessions", DeskSessions)
ORIGINS: web.AppKey[frozenset[str]] = web.AppKey("origins", frozenset)
TERMINAL: web.AppKey[str] = web.AppKey("terminal", str)
ENTRY: web.AppKey[PinEntry] = web.AppKey("desk_pin_entry", PinEntry)
REGISTRATION: web.AppKey[RegistrationSlot] = web.AppKey("registration", RegistrationSlot)
READER: web.AppKey[str | None] = web.AppKey("reader")
PIN_WAIT_S: web.AppKey[float] = web.AppKey("pin_wait_s", float)
PRINTER: web.AppKey[Printer] = web.AppKey("printer")
ISSUING_KEY: web.AppKey[Ed25519PublicKey] = web.AppKey("issuing_key")  # what the print guard checks against
SESSION: web.RequestKey[DeskSession] = web.RequestKey("desk_session", DeskSession)


COOKIE = "desk_session"
LOGIN_COOKIE = "desk_login"
ENROL_COOKIE = "desk_enrol"
