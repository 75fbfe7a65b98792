-- name: DeliveriesCopy :copyfrom
INSERT INTO deliveries (id, run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, rule,
                        planned_for, expires_at, created_at, updated_at, history_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15);
