-- joingate schema v1 (PostgreSQL). No column anywhere holds an IP address.
CREATE TABLE requests (
    id            BIGSERIAL PRIMARY KEY,
    authority     TEXT NOT NULL,
    jurisdiction  TEXT NOT NULL,
    reference     TEXT NOT NULL,
    rooms         TEXT[] NOT NULL,
    demand        TEXT NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL,
    recorded_at   TIMESTAMPTZ NOT NULL,
    recorded_by   TEXT NOT NULL,
    outcome       TEXT CHECK (outcome IN ('complied', 'partially', 'refused')),
    note          TEXT,
    decided_at    TIMESTAMPTZ,
    decided_by    TEXT
);

CREATE TABLE restrictions (
    id            BIGSERIAL PRIMARY KEY,
    rooms         TEXT[] NOT NULL,
    countries     TEXT[] NOT NULL,
    mode          TEXT NOT NULL CHECK (mode IN ('block', 'allow-only')),
    starts_at     TIMESTAMPTZ NOT NULL,
    ends_at       TIMESTAMPTZ,
    reason        TEXT NOT NULL,
    request_id    BIGINT REFERENCES requests(id),
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    TEXT NOT NULL,
    revoked_at    TIMESTAMPTZ,
    revoked_by    TEXT,
    revoke_reason TEXT
);
CREATE INDEX restrictions_request ON restrictions(request_id);

CREATE TABLE tokens (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    scope       TEXT NOT NULL CHECK (scope IN ('admin', 'plugin')),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE TABLE decision_counts (
    day            TEXT NOT NULL,
    restriction_id BIGINT NOT NULL,
    country        TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('allowed', 'refused', 'removed')),
    n              BIGINT NOT NULL,
    PRIMARY KEY (day, restriction_id, country, outcome)
);

CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);

CREATE TABLE audit_checkpoints (
    id    BIGSERIAL PRIMARY KEY,
    at    TEXT NOT NULL,
    size  BIGINT NOT NULL,
    head  TEXT NOT NULL
);

-- Bumped by every change that a running service must see; read as the change marker.
CREATE TABLE change_version (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), version BIGINT NOT NULL);
INSERT INTO change_version VALUES (TRUE, 0);
