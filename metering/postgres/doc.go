// Package postgres keeps metering's PostgreSQL state: the ledger that lets
// several ingest processes write usage records to ClickHouse without ever
// storing one record twice.
//
// It imports the metering domain and pgx; nothing from ingest, portal or
// other adapters.
package postgres
