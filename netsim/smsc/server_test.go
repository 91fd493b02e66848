package smsc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
	"github.com/prometheus/client_golang/prometheus"
)

// startServer starts a simulator for one test on a free loopback port.
func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.SystemID == "" {
		cfg.SystemID, cfg.Password = "simcore", "secret"
	}
	cfg.Log = slog.New(slog.DiscardHandler)
	cfg.Registry = prometheus.NewRegistry()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawClient speaks SMPP PDU by PDU, encoding with go-smpp's codec, so the
// simulator is tested without simcore's client.
type rawClient struct {
	t   *testing.T
	c   net.Conn
	r   *bufio.Reader
	seq uint32
}

func dial(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *rawClient) send(p pdu.Body) uint32 {
	c.t.Helper()
	c.seq++
	p.Header().Seq = c.seq
	var b bytes.Buffer
	if err := p.SerializeTo(&b); err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(b.Bytes())
	return c.seq
}

func (c *rawClient) sendRaw(b []byte) {
	c.t.Helper()
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) read() (header, []byte) {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, frame, err := readFrame(c.r)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return h, frame
}

func (c *rawClient) bind(id pdu.ID, systemID, password string) header {
	c.t.Helper()
	var p pdu.Body
	switch id {
	case pdu.BindTransmitterID:
		p = pdu.NewBindTransmitter()
	case pdu.BindReceiverID:
		p = pdu.NewBindReceiver()
	default:
		p = pdu.NewBindTransceiver()
	}
	p.Fields().Set(pdufield.SystemID, systemID)
	p.Fields().Set(pdufield.Password, password)
	p.Fields().Set(pdufield.InterfaceVersion, 0x34)
	c.send(p)
	h, _ := c.read()
	return h
}

func (c *rawClient) submit(dst string, esm byte, sm []byte) (header, string) {
	c.t.Helper()
	p := pdu.NewSubmitSM(nil)
	f := p.Fields()
	f.Set(pdufield.SourceAddr, "SIMCORE")
	f.Set(pdufield.DestinationAddr, dst)
	f.Set(pdufield.ESMClass, esm)
	f.Set(pdufield.RegisteredDelivery, uint8(1))
	f.Set(pdufield.ShortMessage, sm)
	seq := c.send(p)
	h, frame := c.read()
	if h.ID != pdu.SubmitSMRespID || h.Seq != seq {
		c.t.Fatalf("got %v seq %d, want submit_sm_resp seq %d", h.ID, h.Seq, seq)
	}
	return h, strings.TrimRight(string(frame[headerLen:]), "\x00")
}

func TestBind(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	tests := []struct {
		name     string
		id       pdu.ID
		systemID string
		password string
		want     uint32
	}{
		{"transmitter", pdu.BindTransmitterID, "simcore", "secret", StatusOK},
		{"receiver", pdu.BindReceiverID, "simcore", "secret", StatusOK},
		{"transceiver", pdu.BindTransceiverID, "simcore", "secret", StatusOK},
		{"wrong password", pdu.BindTransmitterID, "simcore", "guess", StatusInvPaswd},
		{"unknown system id", pdu.BindReceiverID, "mallory", "secret", StatusBindFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, s.Addr())
			h := c.bind(tt.id, tt.systemID, tt.password)
			if h.ID != tt.id|pdu.ID(respBit) || h.Status != tt.want {
				t.Fatalf("bind: %v status %#x, want %v status %#x", h.ID, h.Status, tt.id|pdu.ID(respBit), tt.want)
			}
			if tt.want == StatusOK {
				if h := c.bind(tt.id, tt.systemID, tt.password); h.Status != StatusAlyBnd {
					t.Errorf("second bind: status %#x, want ESME_RALYBND", h.Status)
				}
			}
		})
	}
}

func TestSessionCommands(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := dial(t, s.Addr())

	// submit_sm before bind
	if h, _ := c.submit("4512345678", 0, []byte("x")); h.Status != StatusInvBndSts {
		t.Errorf("submit before bind: status %#x, want ESME_RINVBNDSTS", h.Status)
	}
	seq := c.send(pdu.NewEnquireLink())
	if h, _ := c.read(); h.ID != pdu.EnquireLinkRespID || h.Seq != seq {
		t.Errorf("enquire_link: got %v seq %d", h.ID, h.Seq)
	}
	// cancel_sm is not implemented: generic_nack ESME_RINVCMDID.
	cancel := newPDU(pdu.CancelSMID, 0, 99).cstring("").cstring("1").byte1(1).byte1(1).cstring("1").byte1(1).byte1(1).cstring("2").finish()
	c.sendRaw(cancel)
	if h, _ := c.read(); h.ID != pdu.GenericNACKID || h.Status != StatusInvCmdID || h.Seq != 99 {
		t.Errorf("cancel_sm: got %v status %#x seq %d", h.ID, h.Status, h.Seq)
	}
	if h := c.bind(pdu.BindReceiverID, "simcore", "secret"); h.Status != StatusOK {
		t.Fatalf("bind: %#x", h.Status)
	}
	// A receiver may not submit.
	if h, _ := c.submit("4512345678", 0, []byte("x")); h.Status != StatusInvBndSts {
		t.Errorf("submit on receiver: status %#x, want ESME_RINVBNDSTS", h.Status)
	}
	seq = c.send(pdu.NewUnbind())
	if h, _ := c.read(); h.ID != pdu.UnbindRespID || h.Seq != seq {
		t.Errorf("unbind: got %v seq %d", h.ID, h.Seq)
	}
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("after unbind_resp: %v, want EOF", err)
	}
}

func TestSubmitOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		dst  string
		want []uint32 // any of
	}{
		{"accepted", Config{}, "4512345678", []uint32{StatusOK}},
		{"rejected prefix", Config{RejectPrefixes: []string{"999"}}, "99912345", []uint32{StatusInvDstAdr}},
		{"not digits", Config{}, "45-1234", []uint32{StatusInvDstAdr}},
		{"transient failure", Config{FailureRate: 1}, "4512345678", []uint32{StatusThrottled, StatusSysErr}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, tt.cfg)
			c := dial(t, s.Addr())
			c.bind(pdu.BindTransmitterID, "simcore", "secret")
			for range 10 {
				h, id := c.submit(tt.dst, 0, []byte("hello"))
				if !containsStatus(tt.want, h.Status) {
					t.Fatalf("status %#x, want one of %#x", h.Status, tt.want)
				}
				if (h.Status == StatusOK) != (id != "") {
					t.Fatalf("status %#x with message id %q", h.Status, id)
				}
			}
		})
	}
}

func containsStatus(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// parseDeliverSM takes the fields a test needs off a deliver_sm frame, with
// go-smpp's decoder.
func parseDeliverSM(t *testing.T, frame []byte) (esm byte, text, tlvID string, state []byte) {
	t.Helper()
	p, err := pdu.Decode(bytes.NewReader(frame))
	if err != nil {
		t.Fatal(err)
	}
	esm = p.Fields()[pdufield.ESMClass].(*pdufield.Fixed).Data
	text = p.Fields()[pdufield.ShortMessage].String()
	if v, ok := p.TLVFields()[pdutlv.TagReceiptedMessageID]; ok {
		tlvID = v.String()
	}
	if v, ok := p.TLVFields()[pdutlv.TagMessageStateOption]; ok {
		state = v.Bytes()
	}
	return esm, text, tlvID, state
}

func TestReceipts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       Config
		dst       string
		idPattern func(id string) bool
		textID    func(submitID string) string
		stat      string
		state     byte
		wantTLVs  bool
	}{
		{
			name: "decimal", cfg: Config{}, dst: "4512345678",
			idPattern: func(id string) bool { return len(id) == 10 && isDigits(id) },
			textID:    func(id string) string { return id }, stat: "DELIVRD", state: 2, wantTLVs: true,
		},
		{
			name: "hex answered, decimal receipted, no TLVs",
			cfg:  Config{IDFormat: IDHex, ReceiptIDFormat: IDDecimal, OmitReceiptTLVs: true}, dst: "4512345678",
			idPattern: func(id string) bool { return strings.ToUpper(id) == id && !isDigits(id) || isDigits(id) },
			textID: func(id string) string {
				var n uint64
				for _, c := range id {
					n = n*16 + uint64(strings.IndexRune("0123456789ABCDEF", c))
				}
				return formatID(n, IDDecimal)
			},
			stat: "DELIVRD",
		},
		{
			name: "undeliverable", cfg: Config{UndeliverablePrefixes: []string{"4599"}}, dst: "4599000000",
			idPattern: func(id string) bool { return isDigits(id) },
			textID:    func(id string) string { return id }, stat: "UNDELIV", state: 5, wantTLVs: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.ReceiptDelay = 10 * time.Millisecond
			s := startServer(t, tt.cfg)
			rx := dial(t, s.Addr())
			if h := rx.bind(pdu.BindReceiverID, "simcore", "secret"); h.Status != StatusOK {
				t.Fatalf("bind receiver: %#x", h.Status)
			}
			tx := dial(t, s.Addr())
			tx.bind(pdu.BindTransmitterID, "simcore", "secret")
			h, id := tx.submit(tt.dst, 0, []byte("Hello there"))
			if h.Status != StatusOK || !tt.idPattern(id) {
				t.Fatalf("submit: status %#x id %q", h.Status, id)
			}
			rh, frame := rx.read()
			if rh.ID != pdu.DeliverSMID || rh.Seq != 1 {
				t.Fatalf("got %v seq %d, want deliver_sm numbered 1 by the SMSC", rh.ID, rh.Seq)
			}
			esm, text, tlvID, state := parseDeliverSM(t, frame)
			if esm != 0x04 {
				t.Errorf("esm_class %#x, want 0x04", esm)
			}
			wantPrefix := "id:" + tt.textID(id) + " sub:001 dlvrd:"
			if !strings.HasPrefix(text, wantPrefix) || !strings.Contains(text, " stat:"+tt.stat+" ") ||
				!strings.HasSuffix(text, " text:Hello there") {
				t.Errorf("receipt text %q, want prefix %q and stat %s", text, wantPrefix, tt.stat)
			}
			if tt.wantTLVs && (tlvID != id || len(state) != 1 || state[0] != tt.state) {
				t.Errorf("TLVs: receipted_message_id %q state %v, want %q %d", tlvID, state, id, tt.state)
			}
			if !tt.wantTLVs && (tlvID != "" || state != nil) {
				t.Errorf("TLVs sent: %q %v", tlvID, state)
			}
			rx.sendRaw(encodeEmpty(pdu.DeliverSMRespID, 0, rh.Seq))
			waitFor(t, func() bool { return s.Stats().ReceiptsAcked == 1 })
		})
	}
}

func TestReceiptRedeliveredAfterReceiverLoss(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	tx := dial(t, s.Addr())
	tx.bind(pdu.BindTransmitterID, "simcore", "secret")
	_, id := tx.submit("4512345678", 0, []byte("hi")) // no receiver yet: the receipt waits

	rx1 := dial(t, s.Addr())
	// The receipt waiting for a receiver must not overtake bind_resp.
	if h := rx1.bind(pdu.BindReceiverID, "simcore", "secret"); h.ID != pdu.BindReceiverRespID || h.Status != StatusOK {
		t.Fatalf("bind: got %v status %#x first", h.ID, h.Status)
	}
	if h, frame := rx1.read(); h.ID != pdu.DeliverSMID || !bytes.Contains(frame, []byte("id:"+id)) {
		t.Fatalf("first receiver got %v %q", h.ID, frame)
	}
	rx1.c.Close() // lost without acknowledging

	rx2 := dial(t, s.Addr())
	if h := rx2.bind(pdu.BindTransceiverID, "simcore", "secret"); h.ID != pdu.BindTransceiverRespID || h.Status != StatusOK {
		t.Fatalf("bind: got %v status %#x first", h.ID, h.Status)
	}
	h, frame := rx2.read()
	if h.ID != pdu.DeliverSMID || !bytes.Contains(frame, []byte("id:"+id)) {
		t.Fatalf("second receiver got %v %q", h.ID, frame)
	}
	rx2.sendRaw(encodeEmpty(pdu.DeliverSMRespID, 0, h.Seq))
	waitFor(t, func() bool { return s.Stats().ReceiptsAcked == 1 })
	if st := s.Stats(); st.ReceiptsSent != 2 {
		t.Errorf("receipts sent %d, want 2", st.ReceiptsSent)
	}
}

func TestRespDelayKeepsSubmitsOutstanding(t *testing.T) {
	t.Parallel()
	// The answers are held long enough for the server to read all five
	// submits first, however late a busy machine runs its reader (100 ms
	// was not always enough).
	s := startServer(t, Config{RespDelay: 2 * time.Second})
	c := dial(t, s.Addr())
	c.bind(pdu.BindTransmitterID, "simcore", "secret")
	for range 5 {
		p := pdu.NewSubmitSM(nil)
		p.Fields().Set(pdufield.SourceAddr, "S")
		p.Fields().Set(pdufield.DestinationAddr, "4512345678")
		p.Fields().Set(pdufield.ShortMessage, []byte("x"))
		c.send(p)
	}
	for range 5 {
		if h, _ := c.read(); h.ID != pdu.SubmitSMRespID || h.Status != StatusOK {
			t.Fatalf("got %v %#x", h.ID, h.Status)
		}
	}
	if got := s.Stats().MaxOutstanding; got != 5 {
		t.Errorf("MaxOutstanding %d, want 5", got)
	}
}

func TestMessagesReassembled(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := dial(t, s.Addr())
	c.bind(pdu.BindTransmitterID, "simcore", "secret")
	c.submit("4512345678", 0x40, append([]byte{5, 0, 3, 42, 2, 2}, " world"...))
	c.submit("4512345678", 0, []byte("single"))
	c.submit("4512345678", 0x40, append([]byte{5, 0, 3, 42, 2, 1}, "hello"...))
	var got []string
	for _, m := range s.Messages() {
		got = append(got, m.FullText)
	}
	if want := []string{"", "single", "hello world"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("FullText %q, want %q", got, want)
	}
}

func TestCloseAndRestartOnSameAddress(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	addr := s.Addr()
	c := dial(t, addr)
	c.bind(pdu.BindTransmitterID, "simcore", "secret")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.r.ReadByte(); err == nil {
		t.Fatal("connection open after Close")
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("Start after Close succeeded")
	}
	s2 := startServer(t, Config{Addr: addr})
	c2 := dial(t, s2.Addr())
	if h := c2.bind(pdu.BindTransmitterID, "simcore", "secret"); h.Status != StatusOK {
		t.Errorf("bind after restart: %#x", h.Status)
	}
}

func TestMalformedLengthGetsGenericNack(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := dial(t, s.Addr())
	b := make([]byte, 16)
	binary.BigEndian.PutUint32(b[0:4], 8) // shorter than a header
	binary.BigEndian.PutUint32(b[4:8], uint32(pdu.EnquireLinkID))
	binary.BigEndian.PutUint32(b[12:16], 5)
	c.sendRaw(b)
	if h, _ := c.read(); h.ID != pdu.GenericNACKID || h.Status != StatusInvCmdLen {
		t.Errorf("got %v %#x, want generic_nack ESME_RINVCMDLEN", h.ID, h.Status)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
