// Package mailsink is an SMTP server that accepts mail and keeps it in
// memory, decoded, for development and tests: point a Mailer at it and read
// back what a subscriber would have received.
//
// It is a simulator of the outside world, like the rest of netsim: it imports
// the standard library, go-smtp and go-sasl for the protocol, and x/text for
// legacy charsets. It must not import simcore's domain packages or adapters,
// so that it tests them from the outside, over TCP.
package mailsink
