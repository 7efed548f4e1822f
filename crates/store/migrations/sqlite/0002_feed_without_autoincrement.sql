-- The change feed's sequence without AUTOINCREMENT.
--
-- AUTOINCREMENT made every feed append (one per write, from the triggers) also read and rewrite
-- the table's row in `sqlite_sequence`: 2-5% of a PATCH's CPU time on the writer thread. A plain
-- INTEGER PRIMARY KEY gives the next number after the largest one present, which is the same
-- guarantee a consumer's watermark needs as long as the newest entry is never deleted. Nothing
-- deletes feed entries; whatever prunes the feed one day must keep the newest entry.
--
-- SQLite cannot drop AUTOINCREMENT from a table, so the table is rebuilt with its rows and
-- sequence numbers. The triggers name the table and are recreated around the rebuild, as they
-- were.

DROP TRIGGER resources_created;
DROP TRIGGER resources_updated;
DROP TRIGGER resources_deleted;

CREATE TABLE changes_rebuilt (
    seq     INTEGER PRIMARY KEY,
    tenant  INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    id      TEXT    NOT NULL,
    op      TEXT    NOT NULL,
    version INTEGER NOT NULL,
    at      INTEGER NOT NULL
);
INSERT INTO changes_rebuilt (seq, tenant, kind, id, op, version, at)
    SELECT seq, tenant, kind, id, op, version, at FROM changes ORDER BY seq;
DROP TABLE changes;
ALTER TABLE changes_rebuilt RENAME TO changes;
CREATE INDEX changes_by_tenant ON changes (tenant, seq);

CREATE TRIGGER resources_created AFTER INSERT ON resources
BEGIN
    INSERT INTO changes (tenant, kind, id, op, version, at)
        VALUES (NEW.tenant, NEW.kind, NEW.id, 'create', NEW.version, NEW.last_modified);
    INSERT INTO resource_counts (tenant, kind, n) VALUES (NEW.tenant, NEW.kind, 1)
        ON CONFLICT (tenant, kind) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER resources_updated AFTER UPDATE OF version ON resources
WHEN NEW.version <> OLD.version
BEGIN
    INSERT INTO changes (tenant, kind, id, op, version, at)
        VALUES (NEW.tenant, NEW.kind, NEW.id, 'update', NEW.version, NEW.last_modified);
END;

CREATE TRIGGER resources_deleted AFTER DELETE ON resources
BEGIN
    INSERT INTO changes (tenant, kind, id, op, version, at)
        VALUES (OLD.tenant, OLD.kind, OLD.id, 'delete', OLD.version,
                CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
    UPDATE resource_counts SET n = n - 1 WHERE tenant = OLD.tenant AND kind = OLD.kind;
END;
