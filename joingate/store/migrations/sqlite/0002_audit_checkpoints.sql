-- Periodic checkpoints of the audit log: its size and the hash of its last entry at a time.
-- Published in the transparency report, they pin history: rewriting any entry before a
-- published checkpoint changes the hash it names.
CREATE TABLE audit_checkpoints (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    at    TEXT NOT NULL,
    size  INTEGER NOT NULL,
    head  TEXT NOT NULL
);
