package smpp

import (
	"errors"
	"fmt"

	"github.com/simcore/simcore/provisioning"
)

// Errors of a Sender. All are transient: the message may be sent again.
var (
	// ErrNotBound means no transmitter session is bound at the moment (the
	// Sender is reconnecting, or was never started).
	ErrNotBound = errors.New("smpp: not bound")
	// ErrTimeout means the SMSC did not answer within Config.RespTimeout;
	// the message may or may not have been accepted.
	ErrTimeout = errors.New("smpp: response timeout")
	// ErrDisconnected means the session ended before the SMSC answered;
	// the message may or may not have been accepted.
	ErrDisconnected = errors.New("smpp: session lost")
	// ErrClosed means the Sender was closed.
	ErrClosed = errors.New("smpp: sender closed")
)

// Command statuses this package names (SMPP 3.4 §5.1.3).
const (
	statusOK        uint32 = 0x00
	statusInvCmdID  uint32 = 0x03
	statusMsgQFul   uint32 = 0x14
	statusThrottled uint32 = 0x58
	// statusRxTApp (ESME_RX_T_APPN) answers a deliver_sm this ESME cannot
	// take now: the SMSC delivers it again later.
	statusRxTApp uint32 = 0x64
)

// StatusError is a command_status other than ESME_ROK in the SMSC's answer.
// It wraps provisioning.ErrPermanent when the status says the request can
// never succeed as sent (a bad address, a bad length, a refusal by policy);
// other statuses (throttling, queue full, system error, unknown and vendor
// codes) are transient.
type StatusError struct {
	Command string // the request: "submit_sm", "bind_transmitter", ...
	Status  uint32
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("smpp: %s: %s (%#x)", e.Command, StatusName(e.Status), e.Status)
}

// Unwrap returns provisioning.ErrPermanent for a permanent status.
func (e *StatusError) Unwrap() error {
	if Permanent(e.Status) {
		return provisioning.ErrPermanent
	}
	return nil
}

// Permanent reports whether a submit_sm answered with status can never
// succeed if sent again unchanged.
func Permanent(status uint32) bool {
	_, ok := permanentStatuses[status]
	return ok
}

var permanentStatuses = map[uint32]struct{}{
	0x01: {}, // ESME_RINVMSGLEN
	0x02: {}, // ESME_RINVCMDLEN
	0x03: {}, // ESME_RINVCMDID
	0x06: {}, // ESME_RINVPRTFLG
	0x07: {}, // ESME_RINVREGDLVFLG
	0x0A: {}, // ESME_RINVSRCADR
	0x0B: {}, // ESME_RINVDSTADR
	0x15: {}, // ESME_RINVSERTYP
	0x33: {}, // ESME_RINVNUMDESTS
	0x34: {}, // ESME_RINVDLNAME
	0x40: {}, // ESME_RINVDESTFLAG
	0x42: {}, // ESME_RINVSUBREP
	0x43: {}, // ESME_RINVESMCLASS
	0x44: {}, // ESME_RCNTSUBDL
	0x48: {}, // ESME_RINVSRCTON
	0x49: {}, // ESME_RINVSRCNPI
	0x50: {}, // ESME_RINVDSTTON
	0x51: {}, // ESME_RINVDSTNPI
	0x53: {}, // ESME_RINVSYSTYP
	0x54: {}, // ESME_RINVREPFLAG
	0x55: {}, // ESME_RINVNUMMSGS
	0x61: {}, // ESME_RINVSCHED
	0x62: {}, // ESME_RINVEXPIRY
	0x63: {}, // ESME_RINVDFTMSGID
	0x65: {}, // ESME_RX_P_APPN
	0x66: {}, // ESME_RX_R_APPN
	0xC0: {}, // ESME_RINVOPTPARSTREAM
	0xC1: {}, // ESME_ROPTPARNOTALLWD
	0xC2: {}, // ESME_RINVPARLEN
	0xC3: {}, // ESME_RMISSINGOPTPARAM
	0xC4: {}, // ESME_RINVOPTPARAMVAL
}

var statusNames = map[uint32]string{
	0x00: "ESME_ROK", 0x01: "ESME_RINVMSGLEN", 0x02: "ESME_RINVCMDLEN", 0x03: "ESME_RINVCMDID",
	0x04: "ESME_RINVBNDSTS", 0x05: "ESME_RALYBND", 0x06: "ESME_RINVPRTFLG", 0x07: "ESME_RINVREGDLVFLG",
	0x08: "ESME_RSYSERR", 0x0A: "ESME_RINVSRCADR", 0x0B: "ESME_RINVDSTADR", 0x0C: "ESME_RINVMSGID",
	0x0D: "ESME_RBINDFAIL", 0x0E: "ESME_RINVPASWD", 0x0F: "ESME_RINVSYSID", 0x11: "ESME_RCANCELFAIL",
	0x13: "ESME_RREPLACEFAIL", 0x14: "ESME_RMSGQFUL", 0x15: "ESME_RINVSERTYP", 0x33: "ESME_RINVNUMDESTS",
	0x34: "ESME_RINVDLNAME", 0x40: "ESME_RINVDESTFLAG", 0x42: "ESME_RINVSUBREP", 0x43: "ESME_RINVESMCLASS",
	0x44: "ESME_RCNTSUBDL", 0x45: "ESME_RSUBMITFAIL", 0x48: "ESME_RINVSRCTON", 0x49: "ESME_RINVSRCNPI",
	0x50: "ESME_RINVDSTTON", 0x51: "ESME_RINVDSTNPI", 0x53: "ESME_RINVSYSTYP", 0x54: "ESME_RINVREPFLAG",
	0x55: "ESME_RINVNUMMSGS", 0x58: "ESME_RTHROTTLED", 0x61: "ESME_RINVSCHED", 0x62: "ESME_RINVEXPIRY",
	0x63: "ESME_RINVDFTMSGID", 0x64: "ESME_RX_T_APPN", 0x65: "ESME_RX_P_APPN", 0x66: "ESME_RX_R_APPN",
	0x67: "ESME_RQUERYFAIL", 0xC0: "ESME_RINVOPTPARSTREAM", 0xC1: "ESME_ROPTPARNOTALLWD",
	0xC2: "ESME_RINVPARLEN", 0xC3: "ESME_RMISSINGOPTPARAM", 0xC4: "ESME_RINVOPTPARAMVAL",
	0xFE: "ESME_RDELIVERYFAILURE", 0xFF: "ESME_RUNKNOWNERR",
}

// StatusName is the SMPP 3.4 name of a command_status, or "vendor status"
// for the range SMSC vendors use (0x400-0x4FF), or "unknown status".
func StatusName(status uint32) string {
	if n, ok := statusNames[status]; ok {
		return n
	}
	if status >= 0x400 && status <= 0x4FF {
		return "vendor status"
	}
	return "unknown status"
}

// permanentf wraps provisioning.ErrPermanent for a message that can never be
// sent as it is.
func permanentf(format string, args ...any) error {
	return fmt.Errorf("smpp: %s: %w", fmt.Sprintf(format, args...), provisioning.ErrPermanent)
}
