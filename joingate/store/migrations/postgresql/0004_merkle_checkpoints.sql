-- The audit log as a Merkle tree: each checkpoint records the tree's root (base64) and, when
-- a signing key is configured, the signed tree head (a C2SP signed note) and the verifier key
-- that signed it. Rows from before keep NULL there.
ALTER TABLE audit_checkpoints ADD COLUMN root TEXT;
ALTER TABLE audit_checkpoints ADD COLUMN note TEXT;
ALTER TABLE audit_checkpoints ADD COLUMN signer_key TEXT;
-- Key rotations: statements naming the retired and the new verifier key, signed by both.
CREATE TABLE audit_key_rotations (
    id    BIGSERIAL PRIMARY KEY,
    at    TEXT NOT NULL,
    note  TEXT NOT NULL
);
