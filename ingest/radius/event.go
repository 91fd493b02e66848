package radius

import (
	"cmp"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3162"

	"github.com/simcore/simcore/numbering"
)

// Vendor 10415 (3GPP) attribute numbers, from testdata/dictionary.3gpp.
const (
	vendor3GPP     = 10415
	attrIMSI       = 1
	attrChargingID = 2
	attrGGSNAddr   = 7
	attrIMSIMCCMNC = 8
	attrRATType    = 21
)

// errMalformed marks requests that parse as RADIUS but lack what RFC 2866
// requires of an Accounting-Request.
var errMalformed = errors.New("malformed accounting request")

// event is what one Accounting-Request says about a session.
type event struct {
	status     rfc2866.AcctStatusType
	nodeID     string
	sessionID  string // unique session id (FreeRADIUS acct_unique style)
	at         time.Time
	sessionS   uint32
	in, out    uint64
	imsi       string
	msisdn     string
	mccmnc     string
	rat        string
	chargingID uint32
	hasCharge  bool   // a 3GPP-Charging-ID came
	gateway    string // 3GPP-GGSN-Address, else the NAS address or identity
}

// decodeEvent reads an authenticated Accounting-Request. recv is when it
// arrived.
func decodeEvent(p *radius.Packet, recv time.Time) (event, error) {
	var ev event
	st, err := rfc2866.AcctStatusType_Lookup(p)
	if err != nil {
		return ev, errors.Join(errMalformed, err)
	}
	ev.status = st
	acctID, err := rfc2866.AcctSessionID_LookupString(p)
	if err != nil && (st == rfc2866.AcctStatusType_Value_Start ||
		st == rfc2866.AcctStatusType_Value_Stop || st == rfc2866.AcctStatusType_Value_InterimUpdate) {
		return ev, errors.Join(errMalformed, err)
	}

	nasID := rfc2865.NASIdentifier_GetString(p)
	var nasIP string
	if ip, err := rfc3162.NASIPv6Address_Lookup(p); err == nil {
		nasIP = ip.String()
	} else if ip, err := rfc2865.NASIPAddress_Lookup(p); err == nil {
		nasIP = ip.String()
	}
	switch {
	case nasID != "":
		ev.nodeID = nasID
	case nasIP != "":
		ev.nodeID = nasIP
	default:
		return ev, errors.Join(errMalformed, errors.New("no NAS-IP-Address or NAS-Identifier"))
	}
	var port string
	if v, err := rfc2865.NASPort_Lookup(p); err == nil {
		port = strconv.FormatUint(uint64(v), 10)
	}
	ev.sessionID = uniqueID(rfc2865.UserName_GetString(p), acctID, nasIP, nasID,
		rfc2869.NASPortID_GetString(p), port)

	ev.at = recv.Add(-time.Duration(rfc2866.AcctDelayTime_Get(p)) * time.Second)
	ev.sessionS = uint32(rfc2866.AcctSessionTime_Get(p))
	ev.in = uint64(rfc2869.AcctInputGigawords_Get(p))<<32 | uint64(rfc2866.AcctInputOctets_Get(p))
	ev.out = uint64(rfc2869.AcctOutputGigawords_Get(p))<<32 | uint64(rfc2866.AcctOutputOctets_Get(p))

	if msisdn := strings.TrimPrefix(rfc2865.CallingStationID_GetString(p), "+"); numbering.ValidMSISDN(msisdn) {
		ev.msisdn = msisdn
	}
	for _, avp := range p.Attributes {
		if avp.Type != rfc2865.VendorSpecific_Type {
			continue
		}
		vendor, value, err := radius.VendorSpecific(avp.Attribute)
		if err != nil || vendor != vendor3GPP {
			continue
		}
		ev.read3GPP(value)
	}
	if ev.gateway == "" {
		ev.gateway = cmp.Or(nasIP, ev.nodeID)
	}
	return ev, nil
}

// read3GPP reads the sub-attributes of one 3GPP Vendor-Specific attribute
// (type, length, value; RFC 2865 section 5.26 format). A malformed tail is
// ignored: these attributes enrich the record but are not needed to meter.
func (ev *event) read3GPP(b []byte) {
	for len(b) >= 2 {
		n := int(b[1])
		if n < 2 || n > len(b) {
			return
		}
		typ, v := b[0], b[2:n]
		b = b[n:]
		switch typ {
		case attrIMSI:
			if s := string(v); numbering.ValidIMSI(s) {
				ev.imsi = s
			}
		case attrIMSIMCCMNC:
			if s := string(v); numbering.DigitsBetween(s, 5, 6) {
				ev.mccmnc = s
			}
		case attrRATType:
			// A byte in the dictionaries; some gateways send 4 octets.
			if len(v) == 1 || len(v) == 4 {
				ev.rat = ratName(v[len(v)-1])
			}
		case attrChargingID:
			if len(v) == 4 {
				ev.chargingID = uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
				ev.hasCharge = true
			}
		case attrGGSNAddr:
			if a, ok := netip.AddrFromSlice(v); ok {
				ev.gateway = a.String()
			}
		}
	}
}

// uniqueID is FreeRADIUS 3's acct_unique without the Class branch:
// md5 of "User-Name,Acct-Session-Id,NAS-IP(v6)-Address,NAS-Identifier,NAS-Port-Id,NAS-Port".
func uniqueID(user, acctID, nasIP, nasID, portID, port string) string {
	sum := md5.Sum([]byte(strings.Join([]string{user, acctID, nasIP, nasID, portID, port}, ",")))
	return hex.EncodeToString(sum[:])
}

// ratName names a 3GPP RAT Type value (TS 29.274 section 8.17; TS 29.061
// 3GPP-RAT-Type uses the same values plus 101-104 for non-3GPP access).
// Unknown values are kept as "RAT-<n>" rather than dropped.
func ratName(v byte) string {
	switch v {
	case 1:
		return "UTRAN"
	case 2:
		return "GERAN"
	case 3:
		return "WLAN"
	case 4:
		return "GAN"
	case 5:
		return "HSPA-Evolution"
	case 6:
		return "EUTRAN"
	case 7:
		return "Virtual"
	case 8:
		return "EUTRAN-NB-IoT"
	case 9:
		return "LTE-M"
	case 10:
		return "NR"
	case 101:
		return "IEEE-802.16e"
	case 102:
		return "3GPP2-eHRPD"
	case 103:
		return "3GPP2-HRPD"
	case 104:
		return "3GPP2-1xRTT"
	}
	return "RAT-" + strconv.Itoa(int(v))
}
