-- The series' order as a column of its own (it was SQLite's rowid), the same on every engine.
ALTER TABLE serial_series ADD COLUMN series_no INTEGER;
UPDATE serial_series SET series_no = rowid;
