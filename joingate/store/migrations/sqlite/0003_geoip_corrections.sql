-- Operator corrections of the GeoIP databases: a network (never narrower than /24 or /48,
-- never one participant) and the country it is in.
CREATE TABLE geoip_corrections (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    network       TEXT NOT NULL,
    country       TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    removed_at    TEXT,
    removed_by    TEXT,
    remove_reason TEXT
);

-- Decisions on contested evidence (the witness DB disagrees) are counted as 'disputed'.
-- SQLite cannot change a CHECK in place: the table is rebuilt.
CREATE TABLE decision_counts_v3 (
    day            TEXT NOT NULL,
    restriction_id INTEGER NOT NULL,
    country        TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('allowed', 'refused', 'removed', 'disputed')),
    n              INTEGER NOT NULL,
    PRIMARY KEY (day, restriction_id, country, outcome)
);
INSERT INTO decision_counts_v3 SELECT day, restriction_id, country, outcome, n FROM decision_counts;
DROP TABLE decision_counts;
ALTER TABLE decision_counts_v3 RENAME TO decision_counts;
