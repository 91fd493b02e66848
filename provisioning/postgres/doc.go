// Package postgres keeps provisioning's PostgreSQL state: the SIM inventory,
// accounts, subscribers, plans and subscriptions, and the provisioning
// requests with the SMS parts sent for them. Store implements
// provisioning.Store; the rest of its methods serve the CLI, the demo and
// tests (importing inventory, creating subscriptions).
//
// The invariants that matter on the network are held by the schema, not only
// by this code: a SIM is on at most one subscription that has not ended, and
// a number is never on two active SIMs (see migrations/00001_provisioning.sql).
//
// It imports the provisioning domain, numbering and pgx; nothing from
// workers, portal, metering or other adapters.
package postgres
