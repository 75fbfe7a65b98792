-- +goose Up
-- A delivery's place in its contact's history, so that reading the recent
-- history costs the same however many years of deliveries a contact has.
--
-- history_at is when the delivery counts in the contact's history — the
-- moment cap windows measure, coalesce(sent_at, planned_for) — as of the
-- last time it moved by more than a day. The invariant, kept by the trigger
-- below for every writer:
--
--     coalesce(sent_at, planned_for) <= history_at + 1 day
--
-- so a read of what counts since T needs only history_at > T - 1 day:
-- an index range scan on (contact_id, history_at) per contact, touching
-- recent rows only (postgres.HistorySlack names the day in Go).
--
-- Why a day of slack rather than history_at = coalesce(sent_at,
-- planned_for) exactly: sending sets sent_at (a few seconds or minutes
-- after planned_for), and an update that changes an indexed column is not
-- HOT. With the slack, scheduled → sending → sent leaves history_at alone
-- and those updates stay HOT (00001 keeps every other index off the
-- columns sending changes). Only a delivery sent more than a day after
-- its history_at (a throttle queue longer than a day) or moved by more
-- than a day (a deferral, a re-plan) writes its index entry again.
--
-- The planner writes history_at with the row (COPY); the trigger moves
-- it forward on an update that would break the invariant. Its WHEN clause
-- is evaluated without calling the function, so updates that need nothing
-- (nearly all) pay only that comparison. The trigger is on UPDATE only: a
-- BEFORE INSERT row trigger would make every COPY insert row by row. A
-- writer that leaves history_at out gets 'infinity', which is always read
-- and never pruned: never wrong, only unbounded (test fixtures do this;
-- the application never does).
--
-- Retention (postgres.Store.PruneDeliveries) deletes final deliveries by history_at.
--
-- Cost: the backfill below rewrites every delivery once (the table
-- doubles until VACUUM) and the index is built in one pass, with the
-- table locked against writes throughout: 37 s for 2 million deliveries
-- on the project's 2-core machine under load (33 s of it the UPDATE), so
-- minutes per 10 million. For a large installation, add the column (with
-- its default) and the trigger first, backfill in id-ranged batches, then
-- CREATE INDEX CONCURRENTLY and drop the old index.
ALTER TABLE deliveries ADD COLUMN history_at timestamptz;
UPDATE deliveries SET history_at = coalesce(sent_at, planned_for);
ALTER TABLE deliveries ALTER COLUMN history_at SET NOT NULL;
ALTER TABLE deliveries ALTER COLUMN history_at SET DEFAULT 'infinity';

-- +goose StatementBegin
CREATE FUNCTION deliveries_history_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.history_at := coalesce(NEW.sent_at, NEW.planned_for);
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER deliveries_history_at BEFORE UPDATE ON deliveries
FOR EACH ROW
WHEN (coalesce(NEW.sent_at, NEW.planned_for) > NEW.history_at + interval '1 day')
EXECUTE FUNCTION deliveries_history_at();

-- The contact index becomes (contact_id, history_at): it still serves
-- every lookup by contact (the timeline, insight's attribution), and the
-- cap history reads only its recent end.
CREATE INDEX deliveries_history_idx ON deliveries (contact_id, history_at);
DROP INDEX deliveries_contact_idx;

-- +goose Down
CREATE INDEX deliveries_contact_idx ON deliveries (contact_id);
DROP INDEX deliveries_history_idx;
DROP TRIGGER deliveries_history_at ON deliveries;
DROP FUNCTION deliveries_history_at();
ALTER TABLE deliveries DROP COLUMN history_at;
