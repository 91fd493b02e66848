// Package portal is the domain of subscriber self-service: portal users and
// their accounts (registration, sessions, password resets, contact-email
// verification), and which SIM cards a user has claimed.
//
// It holds the types, the rules and the interfaces its adapters implement
// (a store, a password hasher, a rate limiter, a mailer). It imports only
// the standard library and numbering (ICCID checks): PostgreSQL lives in portal/postgres, argon2id in
// portal/argon2id, Redis in portal/redis, the HTTP API in portal/http. The
// provisioning and metering domains are reached from portal/http, not from
// here.
package portal
