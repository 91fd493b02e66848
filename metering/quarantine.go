package metering

import "errors"

// States of a quarantined record. A rejected record starts quarantined; a
// retry that stores it (or finds it stored already) resolves it, so no later
// retry picks it up again.
const (
	StateQuarantined = "quarantined"
	StateResolved    = "resolved"
)

// ErrInvalidFilter marks a QuarantineFilter that selects nothing sensible.
var ErrInvalidFilter = errors.New("invalid quarantine filter")

// QuarantineFilter selects quarantined records by their latest state.
type QuarantineFilter struct {
	// Reasons the records' latest reason must be one of; at least one.
	Reasons []string
	// Formats the records must have come in; at least one. A retry names
	// the formats whose Raw holds a decoded record.
	Formats []string
	// Source, if set, is the one source name the records must come from.
	Source string
}

// Validate returns an error wrapping ErrInvalidFilter when f lacks reasons
// or formats.
func (f QuarantineFilter) Validate() error {
	if len(f.Reasons) == 0 {
		return errors.Join(ErrInvalidFilter, errors.New("no reasons"))
	}
	if len(f.Formats) == 0 {
		return errors.Join(ErrInvalidFilter, errors.New("no formats"))
	}
	return nil
}

// Quarantined is the latest version of one quarantined record.
//
// Every version of a record shares its Key (the reject's identity: source,
// line and raw text). Version 0 is written when the record is rejected;
// each retry writes a later one with its outcome, and the highest version
// is the record's state.
type Quarantined struct {
	Key Key
	Reject
	State   string // StateQuarantined or StateResolved
	Version uint64
}
