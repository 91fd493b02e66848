// Package smpp sends text messages to an SMSC over SMPP 3.4 and receives
// their delivery receipts: Sender implements provisioning.SMSSender.
//
// A Sender keeps two sessions up: a transmitter for submit_sm and a
// separate receiver for deliver_sm. Start binds them in the background and
// rebinds after any loss, with backoff; WaitBound waits for them (and tells
// why a bind failed). Each session matches a response to its
// request by sequence number and command id, and only response PDUs (command
// id with the high bit set) are matched, so deliver_sm numbered by the SMSC
// can never be taken for a submit_sm_resp; separate binds also keep a slow
// receipt handler from stalling submits. The number of submits outstanding
// (Config.Window) and their rate (Config.Rate) are bounded here, not left to
// the SMSC, and both are exported as metrics.
//
// PDUs are encoded with github.com/fiorix/go-smpp's pdu codec. They are read
// with this package's own tolerant decoder: that library's pdu.Decode fails
// on PDUs real SMSCs send (a TLV whose length runs past the PDU, an
// sm_length longer than the data, data_sm), and its client treats a decode
// failure as a lost connection. Its Transmitter, Receiver and Transceiver
// are not used: their reconnect loop has a data race, their Close waits up
// to a second, and their Transceiver matches any PDU to a pending request by
// sequence number alone.
//
// The package imports provisioning (the domain) and no other simcore
// package; cmd wires it.
package smpp
