-- Single-row writes without a statement journal.
--
-- Inside a transaction, SQLite gives a statement its own journal (a copy of every page before the
-- statement first changes it, so the statement alone can be undone) whenever the statement
-- writes several B-trees and might abort after some of them. An INSERT into `resources` writes
-- the row, nine index entries and, through its trigger, the feed and the counts, so it always
-- qualified: the copying was a tenth of the writer thread's time in a Bulk create, and PATCH
-- and create paid it too.
--
-- Three things made SQLite expect an abort, and each is gone:
-- * Constraint checks with ABORT resolution (uniqueness, NOT NULL). The store's single-row
--   INSERTs and UPDATEs now say `OR FAIL`: for one row, SQLite checks every constraint before
--   it writes anything, so FAIL undoes exactly as much as ABORT would (nothing), without the
--   journal. A trigger's statements take the outer statement's resolution.
-- * The count's upsert in the insert trigger. SQLite compiles every `DO UPDATE` with ABORT
--   resolution whatever the outer statement says, so the trigger now creates the count's row
--   if it is missing (`DO NOTHING`, which needs no journal: it ignores the conflict) and then
--   increments it. Not `INSERT … SELECT … WHERE NOT EXISTS`: a SELECT that reads the table it
--   inserts into goes through a temporary table, one more B-tree opened and closed per insert.
--   Nor `INSERT OR IGNORE`: a trigger's statement takes the outer statement's `OR FAIL`
--   instead of its own, while an upsert clause keeps its own.
-- * Foreign-key checks, which SQLite counts during the statement and tests at its end. The
--   store's connections now run with `foreign_keys` off (see `connect_as`): every key a write
--   stores was read or written in the same transaction, and the one thing the declarations did
--   at run time, removing a deleted resource's addresses and memberships, is done by the delete
--   trigger below. The REFERENCES clauses stay as the schema's documentation, and the tests
--   check them with `PRAGMA foreign_key_check`.

DROP TRIGGER resources_created;
CREATE TRIGGER resources_created AFTER INSERT ON resources
BEGIN
    INSERT INTO changes (tenant, kind, id, op, version, at)
        VALUES (NEW.tenant, NEW.kind, NEW.id, 'create', NEW.version, NEW.last_modified);
    INSERT INTO resource_counts (tenant, kind, n) VALUES (NEW.tenant, NEW.kind, 0)
        ON CONFLICT DO NOTHING;
    UPDATE resource_counts SET n = n + 1 WHERE tenant = NEW.tenant AND kind = NEW.kind;
END;

DROP TRIGGER resources_deleted;
CREATE TRIGGER resources_deleted AFTER DELETE ON resources
BEGIN
    DELETE FROM emails WHERE resource = OLD.pk;
    DELETE FROM members WHERE group_pk = OLD.pk;
    DELETE FROM members WHERE member_pk = OLD.pk;
    INSERT INTO changes (tenant, kind, id, op, version, at)
        VALUES (OLD.tenant, OLD.kind, OLD.id, 'delete', OLD.version,
                CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
    UPDATE resource_counts SET n = n - 1 WHERE tenant = OLD.tenant AND kind = OLD.kind;
END;
