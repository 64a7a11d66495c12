-- A print failure voids the issuance and refunds its fee.
ALTER TABLE issuances ADD COLUMN refund_yen INTEGER NOT NULL DEFAULT 0;
