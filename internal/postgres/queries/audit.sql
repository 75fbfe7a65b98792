-- name: AuditInsert :exec
INSERT INTO audit_log (actor, action, entity, entity_id, before, after, created_at)
VALUES ($1, $2, $3, $4, $5, $6, @now);
