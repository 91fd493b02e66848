// Package provisioning is the domain of network changes for subscribers:
// SIM inventory and swaps, voicemail, call forwarding, APN settings by SMS,
// plan dates, suspend and resume. It holds the types, the rules and the
// interfaces its adapters implement (a store, the provisioning gateway, the
// SMSC, a mailer).
//
// It imports only the standard library: PostgreSQL lives in
// provisioning/postgres, the network adapters in workers/..., the simulator
// in netsim/.
package provisioning
