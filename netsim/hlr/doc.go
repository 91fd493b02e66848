// Package hlr simulates an operator's provisioning gateway in front of the
// HLR/HSS: the JSON-over-HTTP API described in docs/network.md, held in
// memory. It keeps the invariants a real HLR keeps (an MSISDN is on at most
// one SIM; an IMSI or ICCID belongs to at most one MSISDN), remembers
// idempotency keys, and can add latency and answer a fraction of requests
// 503 so that callers' retries are exercised.
//
// It imports the provisioning domain, the standard library and Prometheus.
// It must not import workers/...: its client (workers/gateway) talks to it
// over HTTP only, as it would to the operator's gateway.
package hlr
