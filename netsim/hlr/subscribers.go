package hlr

import (
	"maps"
	"net/http"
	"net/url"
	"slices"

	"github.com/simcore/simcore/provisioning"
)

// change is a validated request to change the HLR.
type change struct {
	Op        string                         `json:"op"`
	MSISDN    string                         `json:"msisdn"`
	IMSI      string                         `json:"imsi,omitempty"`
	ICCID     string                         `json:"iccid,omitempty"`
	Voicemail provisioning.VoicemailSettings `json:"voicemail"`
	Condition provisioning.ForwardingKind    `json:"condition,omitempty"`
	Number    string                         `json:"number,omitempty"`
	Barring   provisioning.Barring           `json:"barring"`
}

// parse reads and checks a change request: the body's syntax first (415,
// 413, 400), then every value (422).
func (s *Server) parse(r *http.Request, body body, rt route) (change, *response) {
	c := change{Op: rt.op, MSISDN: rt.msisdn}
	switch rt.op {
	case opCreate:
		var b createRequest
		if p := decodeBody(r, body, &b); p != nil {
			return c, p
		}
		for _, f := range []struct {
			name  string
			v     *string
			check func(string) *response
		}{{"msisdn", b.MSISDN, checkMSISDN}, {"imsi", b.IMSI, checkIMSI}, {"iccid", b.ICCID, checkICCID}} {
			if f.v == nil {
				return c, missing(f.name)
			}
			if p := f.check(*f.v); p != nil {
				return c, p
			}
		}
		c.MSISDN, c.IMSI, c.ICCID = *b.MSISDN, *b.IMSI, *b.ICCID
		return c, nil

	case opDelete, opCancelForwarding:
		if p := checkMSISDN(rt.msisdn); p != nil {
			return c, p
		}
		if rt.op == opCancelForwarding {
			if p := checkCondition(rt.condition); p != nil {
				return c, p
			}
			c.Condition = provisioning.ForwardingKind(rt.condition)
		}
		return c, nil

	case opSwap:
		var b simRequest
		if p := decodeBody(r, body, &b); p != nil {
			return c, p
		}
		switch {
		case checkMSISDN(rt.msisdn) != nil:
			return c, checkMSISDN(rt.msisdn)
		case b.IMSI == nil:
			return c, missing("imsi")
		case checkIMSI(*b.IMSI) != nil:
			return c, checkIMSI(*b.IMSI)
		case b.ICCID == nil:
			return c, missing("iccid")
		case checkICCID(*b.ICCID) != nil:
			return c, checkICCID(*b.ICCID)
		}
		c.IMSI, c.ICCID = *b.IMSI, *b.ICCID
		return c, nil

	case opVoicemail:
		var b voicemailRequest
		if p := decodeBody(r, body, &b); p != nil {
			return c, p
		}
		if p := checkMSISDN(rt.msisdn); p != nil {
			return c, p
		}
		if b.Enabled == nil {
			return c, missing("enabled")
		}
		c.Voicemail.Enabled = *b.Enabled
		if b.Language != nil {
			c.Voicemail.Language = *b.Language
		}
		if c.Voicemail.Enabled && c.Voicemail.Language == "" {
			return c, missing("language")
		}
		if c.Voicemail.Language != "" {
			if p := checkLanguage(c.Voicemail.Language); p != nil {
				return c, p
			}
		}
		return c, nil

	case opSetForwarding:
		var b forwardingRequest
		if p := decodeBody(r, body, &b); p != nil {
			return c, p
		}
		switch {
		case checkMSISDN(rt.msisdn) != nil:
			return c, checkMSISDN(rt.msisdn)
		case checkCondition(rt.condition) != nil:
			return c, checkCondition(rt.condition)
		case b.Number == nil:
			return c, missing("number")
		case checkNumber(*b.Number) != nil:
			return c, checkNumber(*b.Number)
		}
		c.Condition, c.Number = provisioning.ForwardingKind(rt.condition), *b.Number
		return c, nil

	case opBarring:
		var b barringRequest
		if p := decodeBody(r, body, &b); p != nil {
			return c, p
		}
		switch {
		case checkMSISDN(rt.msisdn) != nil:
			return c, checkMSISDN(rt.msisdn)
		case b.All == nil:
			return c, missing("all")
		case b.Data == nil:
			return c, missing("data")
		case b.Outgoing == nil:
			return c, missing("outgoing")
		}
		c.Barring = provisioning.Barring{All: *b.All, Data: *b.Data, Outgoing: *b.Outgoing}
		return c, nil
	}
	panic("hlr: parse of " + rt.op) // match returns no other operation here
}

// apply makes a change and returns its outcome. The caller holds s.mu.
func (s *Server) apply(c change) response {
	if c.Op == opCreate {
		switch {
		case s.subs[c.MSISDN] != nil:
			return problemResponse(http.StatusConflict, codeMSISDNExists, "the MSISDN is already provisioned")
		case s.byIMSI[c.IMSI] != "":
			return problemResponse(http.StatusConflict, codeIMSIInUse, "the IMSI belongs to another MSISDN")
		case s.byICCID[c.ICCID] != "":
			return problemResponse(http.StatusConflict, codeICCIDInUse, "the ICCID belongs to another MSISDN")
		}
		sub := &provisioning.NetworkSubscriber{
			MSISDN: c.MSISDN, IMSI: c.IMSI, ICCID: c.ICCID,
			Forwarding: map[provisioning.ForwardingKind]string{},
		}
		s.subs[c.MSISDN], s.byIMSI[c.IMSI], s.byICCID[c.ICCID] = sub, c.MSISDN, c.MSISDN
		resp := jsonResponse(http.StatusCreated, sub)
		resp.location = "/v1/subscribers/" + url.PathEscape(c.MSISDN)
		return resp
	}

	sub := s.subs[c.MSISDN]
	if sub == nil {
		return problemResponse(http.StatusNotFound, codeSubscriberNotFound, "no subscriber has this MSISDN")
	}
	switch c.Op {
	case opDelete:
		delete(s.subs, sub.MSISDN)
		delete(s.byIMSI, sub.IMSI)
		delete(s.byICCID, sub.ICCID)
		return response{status: http.StatusNoContent}
	case opSwap:
		if m := s.byIMSI[c.IMSI]; m != "" && m != sub.MSISDN {
			return problemResponse(http.StatusConflict, codeIMSIInUse, "the IMSI belongs to another MSISDN")
		}
		if m := s.byICCID[c.ICCID]; m != "" && m != sub.MSISDN {
			return problemResponse(http.StatusConflict, codeICCIDInUse, "the ICCID belongs to another MSISDN")
		}
		delete(s.byIMSI, sub.IMSI)
		delete(s.byICCID, sub.ICCID)
		sub.IMSI, sub.ICCID = c.IMSI, c.ICCID
		s.byIMSI[c.IMSI], s.byICCID[c.ICCID] = sub.MSISDN, sub.MSISDN
	case opVoicemail:
		sub.Voicemail = c.Voicemail
	case opSetForwarding:
		sub.Forwarding[c.Condition] = c.Number
	case opCancelForwarding:
		delete(sub.Forwarding, c.Condition)
	case opBarring:
		sub.Barring = c.Barring
	}
	return jsonResponse(http.StatusOK, sub)
}

func (s *Server) get(msisdn string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subs[msisdn]
	if sub == nil {
		return problemResponse(http.StatusNotFound, codeSubscriberNotFound, "no subscriber has this MSISDN")
	}
	return jsonResponse(http.StatusOK, sub)
}

// Subscriber returns a copy of msisdn's state, and whether it is provisioned.
func (s *Server) Subscriber(msisdn string) (provisioning.NetworkSubscriber, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subs[msisdn]
	if sub == nil {
		return provisioning.NetworkSubscriber{}, false
	}
	return clone(sub), true
}

// Subscribers returns a copy of every subscriber, by MSISDN.
func (s *Server) Subscribers() []provisioning.NetworkSubscriber {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]provisioning.NetworkSubscriber, 0, len(s.subs))
	for _, m := range slices.Sorted(maps.Keys(s.subs)) {
		out = append(out, clone(s.subs[m]))
	}
	return out
}

func clone(sub *provisioning.NetworkSubscriber) provisioning.NetworkSubscriber {
	c := *sub
	c.Forwarding = maps.Clone(sub.Forwarding)
	return c
}
