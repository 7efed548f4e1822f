-- The directory's schema on SQLite.
--
-- Decisions, in the order a reader meets them:
--
-- * Times are INTEGER milliseconds since the Unix epoch (UTC). SCIM renders `meta` times with
--   millisecond precision, integers compare and index faster than text, and a filter on
--   `meta.lastModified` becomes an integer range.
-- * Every tenant-owned row carries `tenant`, and every index a request uses starts with it, so a
--   query can only ever reach one tenant's rows and never scans another tenant's.
-- * A resource is one row: the canonical JSON document (without `id`, `meta`, `members`,
--   `groups`) plus the columns filters, sorting and uniqueness need. `pk` is the rowid; every
--   other table refers to resources by it (8 bytes instead of a 36-byte UUID).
-- * Group membership is a table of (group, member) rows: adding or removing one member touches
--   one row and two index entries whatever the group's size.
-- * The change feed is appended in the same transaction as each write, by triggers (below);
--   AUTOINCREMENT keeps sequence numbers from ever being reused after the newest entries are
--   deleted, which a consumer's watermark relies on.

CREATE TABLE tenants (
    id      INTEGER PRIMARY KEY,
    name    TEXT    NOT NULL UNIQUE,
    created INTEGER NOT NULL
);

-- Tokens are stored only as the SHA-256 of their secret. `id` is a short public handle used to
-- list and revoke them; it reveals nothing about the secret.
CREATE TABLE tokens (
    id      TEXT    PRIMARY KEY,
    tenant  INTEGER NOT NULL REFERENCES tenants (id),
    hash    BLOB    NOT NULL UNIQUE,
    label   TEXT,
    created INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tokens_by_tenant ON tokens (tenant);

-- `name_lc` is the lower-cased unique name: `userName` for Users, `displayName` for Groups.
-- `display_lc` is the lower-cased `displayName` of a User (NULL for Groups, whose displayName is
-- already `name_lc`). `display` keeps the original-case name shown as `members.display` and
-- `groups.display` without parsing the document.
CREATE TABLE resources (
    pk            INTEGER PRIMARY KEY,
    tenant        INTEGER NOT NULL REFERENCES tenants (id),
    kind          TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    external_id   TEXT,
    name_lc       TEXT,
    display_lc    TEXT,
    display       TEXT,
    active        INTEGER,
    created       INTEGER NOT NULL,
    last_modified INTEGER NOT NULL,
    doc           TEXT    NOT NULL
);
CREATE UNIQUE INDEX resources_by_id ON resources (tenant, kind, id);
-- Uniqueness of userName / group displayName per tenant; NULLs (a group without a name) are
-- distinct in a UNIQUE index, as they should be.
CREATE UNIQUE INDEX resources_by_name ON resources (tenant, kind, name_lc);
CREATE INDEX resources_by_external_id ON resources (tenant, kind, external_id);
CREATE INDEX resources_by_display ON resources (tenant, kind, display_lc)
    WHERE display_lc IS NOT NULL;
CREATE INDEX resources_by_modified ON resources (tenant, kind, last_modified);
-- `active eq false` finds the few disabled accounts without reading the enabled ones; equal keys
-- are in rowid order, so a page of them in the default order needs no sort either.
CREATE INDEX resources_by_active ON resources (tenant, kind, active);
CREATE INDEX resources_by_created ON resources (tenant, kind, created);
-- Serves the default order (kind, pk) and the unfiltered scan of one type.
CREATE INDEX resources_by_kind ON resources (tenant, kind);

-- Lower-cased `emails.value` of each resource: `emails.value eq "…"` is an index lookup. The
-- in-memory evaluator finishes any sub-filter (`emails[type eq "work"]…`) on the candidates.
CREATE TABLE emails (
    tenant   INTEGER NOT NULL,
    resource INTEGER NOT NULL REFERENCES resources (pk) ON DELETE CASCADE,
    value_lc TEXT    NOT NULL,
    PRIMARY KEY (resource, value_lc)
) WITHOUT ROWID;
CREATE INDEX emails_by_value ON emails (tenant, value_lc);

-- One row per direct membership. WITHOUT ROWID: the primary key is the row, so the table is one
-- B-tree keyed by (group, member) and the reverse index serves `User.groups` and deletions.
CREATE TABLE members (
    tenant    INTEGER NOT NULL,
    group_pk  INTEGER NOT NULL REFERENCES resources (pk) ON DELETE CASCADE,
    member_pk INTEGER NOT NULL REFERENCES resources (pk) ON DELETE CASCADE,
    PRIMARY KEY (group_pk, member_pk)
) WITHOUT ROWID;
CREATE INDEX members_by_member ON members (member_pk, group_pk);

-- Per-tenant, per-type counts kept in the write transactions, so an unfiltered list knows its
-- `totalResults` without counting a million rows on every page.
CREATE TABLE resource_counts (
    tenant INTEGER NOT NULL,
    kind   TEXT    NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (tenant, kind)
) WITHOUT ROWID;

-- The change feed. `op` is 'create', 'update' or 'delete'; `version` is the resource's version
-- after the write (the last version for a delete).
CREATE TABLE changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant  INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    id      TEXT    NOT NULL,
    op      TEXT    NOT NULL,
    version INTEGER NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX changes_by_tenant ON changes (tenant, seq);

-- The feed and the counts are kept by triggers, so no write path can forget them and a write
-- costs no extra round trip for them. An update is recorded when the version moves, which the
-- store does exactly when something changed (a resource's own document or membership, or a
-- group losing a deleted member). `at` of a deletion is the database's clock: the row, and with
-- it the store's timestamp, is gone.
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

-- Not created yet, a note for the provisioning engine's migration: sync jobs will live in a
-- `jobs` table (id, tenant, name, config JSON, watermark = last change seq consumed,
-- lease_owner, lease_until INTEGER ms). A replica takes a job with
-- `UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE id = ? AND (lease_until < now OR
-- lease_owner = ?)` inside `BEGIN IMMEDIATE`, which serialises contenders on SQLite the way
-- `FOR UPDATE SKIP LOCKED` does on PostgreSQL; the watermark is advanced in the same
-- transaction as the job's per-object state, so a crash replays at most one batch.
