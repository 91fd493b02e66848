// Package postgres keeps metering's PostgreSQL state: the ledger that lets
// several ingest processes write usage records to ClickHouse without ever
// storing one record twice, and FollowBatches, which tells a cache of usage
// answers which ICCIDs each stored batch changed.
//
// It imports the metering domain, pgx and internal/pglisten; nothing from
// ingest, portal or other adapters.
package postgres
