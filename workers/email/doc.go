// Package email sends provisioning.Email over SMTP: it is the
// provisioning.Mailer that workers use for subscriber notifications.
//
// It builds MIME with github.com/wneessen/go-mail (UTF-8 text/plain,
// RFC 2047 subjects) and maps SMTP replies to the domain's error contract:
// a 5xx reply about the message itself (to RCPT TO or DATA) wraps
// provisioning.ErrPermanent; everything else is transient.
//
// It imports the provisioning domain, go-mail, Prometheus and the standard
// library. It must not import other workers, netsim or storage adapters;
// tests use netsim/mailsink as the real server on the other end.
package email
