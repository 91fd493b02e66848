// Package metering is the domain of usage metering: the usage record as a
// network feed delivers it, its validation rules and its identity.
//
// It imports only the standard library. It must not import adapters
// (metering/clickhouse, ingest formats, HTTP, queues): they import it.
package metering
