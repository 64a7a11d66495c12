-- Serial series: every serial carries the prefix of the series it was numbered in. A new series
-- (random prefix) starts when the database is created and again at every restore from a backup, so no
-- two installations, and no installation before and after a restore, hand out the same serial.
CREATE TABLE serial_series (
    prefix      TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    reason      TEXT NOT NULL
);
INSERT INTO serial_series (prefix, started_at, reason)
VALUES (upper(hex(randomblob(3))), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'created');
DELETE FROM serial_counter;
