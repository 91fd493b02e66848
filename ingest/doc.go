// Package ingest turns usage feeds (canonical CSV, NDJSON, vendor CSV
// described by a mapping file) into validated metering records.
//
// A Splitter cuts a stream into chunks of whole records on one goroutine;
// a Parser turns chunks into Items on as many goroutines as there are cores.
// Items carry either a valid metering.Record or a stable reason code saying
// why the record was rejected.
//
// WAL is the RADIUS receiver's durable acceptance: a local write-ahead log
// of NDJSON segments that the Spool stores like any file (see
// docs/ingest.md).
//
// It imports the metering domain and the standard library (and yaml.v3 for
// mapping files). It must not import storage adapters such as
// metering/clickhouse: the caller hands items to them.
package ingest
