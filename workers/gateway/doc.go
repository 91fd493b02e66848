// Package gateway is the client of the operator's provisioning gateway in
// front of the HLR/HSS (docs/network.md): Client implements
// provisioning.Gateway over JSON and HTTP, one attempt per call.
//
// It maps every answer to the domain's rule: refusals a retry cannot change
// wrap provisioning.ErrPermanent; anything else (5xx, 429, timeouts, broken
// connections) is transient, and a *RetryAfterError carries the delay the
// gateway asked for. Retrying is the caller's business, with the same
// idempotency key.
//
// It imports the provisioning domain, the standard library and Prometheus;
// nothing from netsim (its tests use netsim/hlr as the real server) or from
// other workers.
package gateway
