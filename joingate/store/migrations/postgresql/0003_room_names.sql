-- Meeting names become canonical (Jitsi's room node, tenant/room for a tenant: joingate/rooms.py).
-- SQL cannot percent-encode UTF-8, so the store rewrites the `rooms` of every restriction and
-- request in Python (store/base.py renamed_rooms) in this migration's transaction. Every row is
-- kept, and the audit log keeps the names as they were recorded.
SELECT 1;
