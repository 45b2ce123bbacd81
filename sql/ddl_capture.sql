-- wal2edge DDL capture: an event trigger that writes every schema change of a
-- published table into the WAL as a transactional logical message with the
-- prefix 'wal2edge.ddl', so it reaches wal2edge exactly where the DDL commits,
-- before the first row in the new shape (docs/schema-changes.md).
--
-- Installed by `wal2edge setup` and `wal2edge slot create`, or by hand:
--   psql -v ON_ERROR_STOP=1 -f sql/ddl_capture.sql
-- Creating an event trigger needs a superuser (or a provider's equivalent,
-- see docs/schema-changes.md). Running this file again replaces the function
-- and the triggers: it is idempotent. `wal2edge doctor` checks the version.
--
-- The message content (JSON, version 1):
--   {"v":1, "event":"ddl_command_end"|"table_rewrite"|"sql_drop",
--    "command":"ALTER TABLE", "schema":"public", "table":"users", "oid":16385,
--    "columns":[{"attnum":1, "name":"id", "type":"bigint", "type_oid":20,
--                "typmod":-1, "not_null":true, "default":null, "pk":true}, ...]}
-- "columns" is absent for sql_drop and table_rewrite (the table is gone, or its
-- new shape follows in the ddl_command_end message of the same statement).

BEGIN;
SET LOCAL client_min_messages = warning;

-- Not "wal2edge": a role of that name would get it as "$user" on its search_path.
CREATE SCHEMA IF NOT EXISTS _wal2edge;

-- The installed version; `wal2edge doctor` compares it with its own.
CREATE OR REPLACE FUNCTION _wal2edge.ddl_capture_version() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 1 $$;

-- One table's shape as the JSON the message carries.
CREATE OR REPLACE FUNCTION _wal2edge.ddl_table_json(rel oid, event text, command text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT jsonb_build_object(
        'v', 1, 'event', event, 'command', command,
        'schema', n.nspname, 'table', c.relname, 'oid', c.oid::bigint,
        'columns', COALESCE((
            SELECT jsonb_agg(jsonb_build_object(
                       'attnum', a.attnum, 'name', a.attname,
                       'type', format_type(a.atttypid, a.atttypmod),
                       'type_oid', a.atttypid::bigint, 'typmod', a.atttypmod,
                       'not_null', a.attnotnull,
                       'default', pg_get_expr(d.adbin, d.adrelid),
                       'pk', COALESCE(a.attnum = ANY (i.indkey::int2[]), false))
                   ORDER BY a.attnum)
            FROM pg_attribute a
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
              AND a.attgenerated = ''), '[]'::jsonb))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = rel
$$;

-- A table is followed when any publication publishes it (FOR ALL TABLES included).
CREATE OR REPLACE FUNCTION _wal2edge.ddl_published(rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   JOIN pg_publication_tables p ON p.schemaname = n.nspname AND p.tablename = c.relname
                   WHERE c.oid = rel)
$$;

-- No EXCEPTION block here: it would run the emit in a subtransaction, and logical
-- decoding then delivers the message after the row changes that follow the DDL
-- (seen on PostgreSQL 15). Without wal_level = logical the emit would fail the
-- user's DDL, so it is skipped (nothing decodes the WAL then anyway).
CREATE OR REPLACE FUNCTION _wal2edge.ddl_emit(body jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF current_setting('wal_level') = 'logical' THEN
        PERFORM pg_logical_emit_message(true, 'wal2edge.ddl', body::text);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION _wal2edge.ddl_command_end() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT DISTINCT ON (rel) rel AS objid, command_tag FROM (
            SELECT objid AS rel, command_tag FROM pg_event_trigger_ddl_commands()
            WHERE classid = 'pg_class'::regclass AND object_type IN ('table', 'table column')
            UNION ALL -- ALTER PUBLICATION ... ADD TABLE: the table's shape, once it is published
            SELECT pr.prrelid, e.command_tag FROM pg_event_trigger_ddl_commands() e
            JOIN pg_publication_rel pr ON pr.oid = e.objid
            WHERE e.classid = 'pg_publication_rel'::regclass) cmds
    LOOP
        IF EXISTS (SELECT 1 FROM pg_class WHERE oid = r.objid AND relkind IN ('r', 'p'))
           AND _wal2edge.ddl_published(r.objid) THEN
            PERFORM _wal2edge.ddl_emit(_wal2edge.ddl_table_json(r.objid, 'ddl_command_end', r.command_tag));
        END IF;
    END LOOP;
END
$$;

-- Fires before a table is rewritten (ALTER COLUMN TYPE, a volatile default):
-- the rewrite emits no row changes, so the targets must copy the table again.
CREATE OR REPLACE FUNCTION _wal2edge.ddl_table_rewrite() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    rel oid := pg_event_trigger_table_rewrite_oid();
BEGIN
    IF _wal2edge.ddl_published(rel) THEN
        PERFORM _wal2edge.ddl_emit(_wal2edge.ddl_table_json(rel, 'table_rewrite', tg_tag) - 'columns');
    END IF;
END
$$;

-- A dropped table has already left its publications: every dropped table is
-- reported, and wal2edge ignores those it does not follow.
CREATE OR REPLACE FUNCTION _wal2edge.ddl_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT objid, schema_name, object_name FROM pg_event_trigger_dropped_objects()
        WHERE classid = 'pg_class'::regclass AND objsubid = 0 AND object_type = 'table' AND NOT is_temporary
    LOOP
        PERFORM _wal2edge.ddl_emit(jsonb_build_object('v', 1, 'event', 'sql_drop', 'command', tg_tag,
                                                     'schema', r.schema_name, 'table', r.object_name,
                                                     'oid', r.objid::bigint));
    END LOOP;
END
$$;

DROP EVENT TRIGGER IF EXISTS wal2edge_ddl_command_end;
DROP EVENT TRIGGER IF EXISTS wal2edge_ddl_table_rewrite;
DROP EVENT TRIGGER IF EXISTS wal2edge_ddl_sql_drop;
CREATE EVENT TRIGGER wal2edge_ddl_command_end ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER PUBLICATION')
    EXECUTE FUNCTION _wal2edge.ddl_command_end();
CREATE EVENT TRIGGER wal2edge_ddl_table_rewrite ON table_rewrite
    EXECUTE FUNCTION _wal2edge.ddl_table_rewrite();
CREATE EVENT TRIGGER wal2edge_ddl_sql_drop ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION _wal2edge.ddl_sql_drop();

COMMIT;
