-- One row per quote a kiosk asked for: the request, its price, and what became of the money.
-- quoted -> paid (the store's device took the money; reference recorded) -> issuing -> issued,
-- or -> refunded in full (refused, or the session ended before anything was issued).
-- refunded_yen grows as certificates of an issued quote are voided (print failed, never printed).
CREATE TABLE kiosk_payments (
    quote_id           TEXT PRIMARY KEY,
    session_id         TEXT NOT NULL,
    kiosk_id           TEXT NOT NULL,
    request            TEXT NOT NULL,          -- JSON: kind, scope, members, options, fiscal_year
    copies             INTEGER NOT NULL,
    fee_yen            INTEGER NOT NULL,       -- per copy
    total_yen          INTEGER NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('quoted', 'paid', 'issuing', 'issued', 'refunded')),
    payment_reference  TEXT,
    answer             TEXT,                   -- JSON answer of the issue, repeated to a retried request
    refunded_yen       INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX kiosk_payments_session ON kiosk_payments(session_id);
ALTER TABLE issuances ADD COLUMN payment_id TEXT;
