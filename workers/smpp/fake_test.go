package smpp

import (
	"bufio"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"

	"github.com/simcore/simcore/provisioning"
)

// fakeSMSC is a hand-written SMSC for what the simulator does not do: it
// accepts every bind, then hands the connection to script. It returns its
// address.
func fakeSMSC(t *testing.T, script func(c net.Conn, r *bufio.Reader, bind pdu.ID)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				r := bufio.NewReader(c)
				h, _, err := readFrame(r)
				if err != nil {
					return
				}
				resp := append(encodeResponse(h.ID|pdu.ID(respBit), statusOK, h.Seq), "fake\x00"...)
				resp[3] = byte(len(resp))
				c.Write(resp)
				script(c, r, h.ID)
			}()
		}
	}()
	return ln.Addr().String()
}

// The SMSC stops answering: the unanswered enquire_link ends the session and
// the Sender binds again. The SMSC's own enquire_link is answered.
func TestEnquireLinkDetectsDeadPeer(t *testing.T) {
	t.Parallel()
	answered := make(chan uint32, 8)
	addr := fakeSMSC(t, func(c net.Conn, r *bufio.Reader, bind pdu.ID) {
		c.Write(encodeResponse(pdu.EnquireLinkID, 0, 77)[:headerLen])
		for {
			h, _, err := readFrame(r)
			if err != nil {
				return
			}
			if h.ID == pdu.EnquireLinkRespID {
				answered <- h.Seq
			} // everything else: silence
		}
	})
	s, reg := newSender(t, addr, func(c *Config) {
		c.EnquireLink, c.RespTimeout = 50*time.Millisecond, 100*time.Millisecond
	})
	startBound(t, s)
	select {
	case seq := <-answered:
		if seq != 77 {
			t.Errorf("enquire_link_resp seq %d, want 77", seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the SMSC's enquire_link went unanswered")
	}
	waitFor(t, "reconnect", func() bool {
		return metricValue(t, reg, "simcore_smpp_reconnects_total", "type", kindTransmitter) >= 1
	})
}

// The receipt a real SMSC sent with a receipted_message_id TLV whose length
// runs past the PDU: acknowledged, delivered, and the session stays up.
func TestCapturedMalformedReceiptEndToEnd(t *testing.T) {
	t.Parallel()
	frame := vectorBytes(t, "PduDecoderTest_vectors.tsv",
		"decodeDeliverSmNetforsDeliveryReceiptTriggeredErrorInLegacySmppLibrary", "decode_input")
	acked := make(chan header, 1)
	addr := fakeSMSC(t, func(c net.Conn, r *bufio.Reader, bind pdu.ID) {
		if bind == pdu.BindReceiverID {
			c.Write(frame)
		}
		for {
			h, _, err := readFrame(r)
			if err != nil {
				return
			}
			switch h.ID {
			case pdu.DeliverSMRespID:
				acked <- h
			case pdu.EnquireLinkID:
				c.Write(encodeResponse(pdu.EnquireLinkRespID, 0, h.Seq))
			}
		}
	})
	receipts := make(chan provisioning.DeliveryReceipt, 1)
	s, reg := newSender(t, addr, func(c *Config) {
		c.EnquireLink = 50 * time.Millisecond
		c.OnReceipt = func(r provisioning.DeliveryReceipt) error { receipts <- r; return nil }
	})
	startBound(t, s)
	select {
	case r := <-receipts:
		if r.MessageID != "3005" || r.State != "DELIVRD" {
			t.Errorf("receipt %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no receipt")
	}
	select {
	case h := <-acked:
		if h.Seq != 5 || h.Status != statusOK {
			t.Errorf("deliver_sm_resp seq %d status %#x, want 5 ESME_ROK", h.Seq, h.Status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("receipt not acknowledged")
	}
	time.Sleep(200 * time.Millisecond) // a few enquire_links
	if v := metricValue(t, reg, "simcore_smpp_reconnects_total", "type", kindReceiver); v != 0 {
		t.Errorf("receiver reconnected %v times", v)
	}
	if v := metricValue(t, reg, "simcore_smpp_receipts_uncorrelated_total"); v != 1 {
		t.Errorf("uncorrelated %v, want 1 (never submitted here)", v)
	}
}
