-- +goose Up
-- The cards a subscription was on before its current one (SIM swaps): usage
-- that arrives late from a retired card still belongs to the subscription,
-- and rating charges it there (docs/rating.md).
CREATE TABLE subscription_sims (
    subscription_id bigint      NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    iccid           text        NOT NULL REFERENCES sims (iccid),
    until           timestamptz NOT NULL,
    PRIMARY KEY (subscription_id, iccid)
);
CREATE INDEX subscription_sims_iccid ON subscription_sims (iccid);

-- Swaps done before this table existed.
INSERT INTO subscription_sims (subscription_id, iccid, until)
SELECT subscription_id, outcome->>'old_iccid', updated_at
FROM provisioning_requests
WHERE kind = 'sim_swap' AND state = 'done' AND outcome ? 'old_iccid'
ON CONFLICT DO NOTHING;

-- +goose Down
DROP TABLE subscription_sims;
