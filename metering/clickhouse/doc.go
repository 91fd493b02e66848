// Package clickhouse stores usage records in ClickHouse and answers usage
// queries from the rollups ClickHouse maintains.
//
// It imports the metering domain and the ClickHouse driver; nothing from
// ingest, portal or other adapters. SQL here must run on ClickHouse 18.16
// (Debian's) and on current LTS releases alike; every INSERT names its columns.
package clickhouse
