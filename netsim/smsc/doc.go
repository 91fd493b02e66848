// Package smsc is an SMSC simulator speaking SMPP 3.4 over TCP, for tests,
// benchmarks and the demo: it binds transmitters, receivers and
// transceivers, answers submit_sm (with configurable latency, transient
// failures and permanently rejected destinations) and sends delivery
// receipts as deliver_sm numbered with its own sequence numbers, as a real
// SMSC does.
//
// It decodes requests with github.com/fiorix/go-smpp's pdu codec and
// encodes every PDU it sends itself (that library's DeliverSM encoder writes
// a stray byte). It imports no simcore package: it stands for the network,
// so it must not share code with the client it is used to test.
package smsc
