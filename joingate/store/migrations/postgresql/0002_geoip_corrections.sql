-- Operator corrections of the GeoIP databases: a network (never narrower than /24 or /48,
-- never one participant) and the country it is in.
CREATE TABLE geoip_corrections (
    id            BIGSERIAL PRIMARY KEY,
    network       TEXT NOT NULL,
    country       TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    TEXT NOT NULL,
    removed_at    TIMESTAMPTZ,
    removed_by    TEXT,
    remove_reason TEXT
);

-- Decisions on contested evidence (the witness DB disagrees) are counted as 'disputed'.
ALTER TABLE decision_counts DROP CONSTRAINT decision_counts_outcome_check;
ALTER TABLE decision_counts ADD CONSTRAINT decision_counts_outcome_check
    CHECK (outcome IN ('allowed', 'refused', 'removed', 'disputed'));
