// Package http is the portal's JSON API under /v1: accounts, my SIMs, my
// plans and their provisioning requests, and usage. It routes with
// net/http's pattern ServeMux, answers errors as RFC 9457 problem details
// with a stable code (one table, problem.go), keeps a request id in every
// log line, and counts requests per route template and status class.
//
// It imports the portal, provisioning and metering domains and declares
// the small interfaces it needs from their adapters (Lines, Submitter,
// UsageReader, Inventory). It must not import adapters (postgres,
// clickhouse, redis, workers): only cmd/ wires them in.
package http
