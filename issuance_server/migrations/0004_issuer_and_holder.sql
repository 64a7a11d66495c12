-- Who issued (kiosk id or staff id) and for whom (the card holder, or the resident at the counter).
ALTER TABLE issuances ADD COLUMN issued_by TEXT NOT NULL DEFAULT '';
ALTER TABLE issuances ADD COLUMN holder_atena_no TEXT NOT NULL DEFAULT '';
