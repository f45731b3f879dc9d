-- joingate schema v1. No column anywhere holds an IP address.
CREATE TABLE requests (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    authority     TEXT NOT NULL,
    jurisdiction  TEXT NOT NULL,
    reference     TEXT NOT NULL,
    rooms         TEXT NOT NULL,          -- JSON array of meeting names
    demand        TEXT NOT NULL,
    received_at   TEXT NOT NULL,
    recorded_at   TEXT NOT NULL,
    recorded_by   TEXT NOT NULL,
    outcome       TEXT CHECK (outcome IN ('complied', 'partially', 'refused')),
    note          TEXT,
    decided_at    TEXT,
    decided_by    TEXT
);

CREATE TABLE restrictions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    rooms         TEXT NOT NULL,          -- JSON array of meeting names, or ["*"]
    countries     TEXT NOT NULL,          -- JSON array of ISO 3166-1 alpha-2 codes
    mode          TEXT NOT NULL CHECK (mode IN ('block', 'allow-only')),
    starts_at     TEXT NOT NULL,
    ends_at       TEXT,
    reason        TEXT NOT NULL,
    request_id    INTEGER REFERENCES requests(id),
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    revoked_at    TEXT,
    revoked_by    TEXT,
    revoke_reason TEXT
);
CREATE INDEX restrictions_request ON restrictions(request_id);

CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    scope       TEXT NOT NULL CHECK (scope IN ('admin', 'plugin')),
    token_hash  TEXT NOT NULL UNIQUE,     -- SHA-256 of the token (the token itself is never stored)
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);

-- Decisions, counted: never who, never from where beyond the country.
CREATE TABLE decision_counts (
    day            TEXT NOT NULL,          -- YYYY-MM-DD (UTC)
    restriction_id INTEGER NOT NULL,       -- 0 when no restriction applied
    country        TEXT NOT NULL,          -- '' when the address was not placed
    outcome        TEXT NOT NULL CHECK (outcome IN ('allowed', 'refused', 'removed')),
    n              INTEGER NOT NULL,
    PRIMARY KEY (day, restriction_id, country, outcome)
);

CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    details    TEXT NOT NULL,              -- canonical JSON
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
