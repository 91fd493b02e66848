package radius

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestRadclient drives the server with FreeRADIUS's radclient
// (Debian freeradius-utils) and its own 3GPP dictionary.
func TestRadclient(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("radclient")
	if err != nil {
		t.Fatalf("radclient not found (apt-get install freeradius-utils): %v", err)
	}
	sink := &recordingSink{}
	s := startServer(t, sink)
	common := `User-Name = "234150999999999@iot.example"
Acct-Session-Id = "rc-0001"
NAS-IP-Address = 10.9.9.9
NAS-Port = 3
Calling-Station-Id = "447700900456"
3GPP-IMSI = "234150999999999"
3GPP-IMSI-MCC-MNC = "23415"
3GPP-RAT-Type = EUTRAN
3GPP-Charging-ID = 12345
3GPP-GGSN-Address = 10.8.8.8
`
	for _, u := range []string{
		"Acct-Status-Type = Start\nAcct-Session-Time = 0\n",
		"Acct-Status-Type = Interim-Update\nAcct-Session-Time = 60\nAcct-Input-Octets = 4294967000\nAcct-Output-Octets = 100\n",
		"Acct-Status-Type = Stop\nAcct-Session-Time = 90\nAcct-Input-Octets = 704\nAcct-Input-Gigawords = 1\nAcct-Output-Octets = 300\nAcct-Delay-Time = 2\n",
	} {
		cmd := exec.CommandContext(t.Context(), bin, "-r", "1", "-t", "10", s.Addr(), "acct", string(testSecret))
		cmd.Stdin = strings.NewReader(common + u)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Accounting-Response") {
			t.Fatalf("radclient: %v\n%s", err, out)
		}
	}
	recs := sink.records()
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2: %+v", len(recs), recs)
	}
	r := recs[1]
	if r.IMSI != "234150999999999" || r.MSISDN != "447700900456" || r.MCCMNC != "23415" ||
		r.RAT != "EUTRAN" || r.NodeID != "10.9.9.9" || r.ClosingCause != causeNormalRelease ||
		r.ChargingID != 12345 || r.PGWAddress != "10.8.8.8" {
		t.Errorf("stop record = %+v", r)
	}
	if dur, up, down := sink.totals(); dur != 90 || up != 1<<32+704 || down != 300 {
		t.Errorf("totals = %d s, %d up, %d down", dur, up, down)
	}
}

// TestRadclientNASRestart: radclient plays a NAS that restarts
// (Accounting-On) and gives a new session the id of one that was running:
// both sessions are counted.
func TestRadclientNASRestart(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("radclient")
	if err != nil {
		t.Fatalf("radclient not found (apt-get install freeradius-utils): %v", err)
	}
	sink := &recordingSink{}
	s := startServer(t, sink)
	nas := "NAS-IP-Address = 10.9.9.9\nNAS-Port = 3\n"
	session := nas + `User-Name = "234150999999999@iot.example"
Acct-Session-Id = "rc-restart"
3GPP-IMSI = "234150999999999"
`
	for _, u := range []string{
		session + "Acct-Status-Type = Start\nAcct-Delay-Time = 300\n",
		session + "Acct-Status-Type = Interim-Update\nAcct-Session-Time = 240\nAcct-Input-Octets = 1000\nAcct-Output-Octets = 2000\nAcct-Delay-Time = 60\n",
		nas + "Acct-Status-Type = Accounting-On\n",
		session + "Acct-Status-Type = Start\n",
		session + "Acct-Status-Type = Interim-Update\nAcct-Session-Time = 1\nAcct-Input-Octets = 500\nAcct-Output-Octets = 700\n",
	} {
		cmd := exec.CommandContext(t.Context(), bin, "-r", "1", "-t", "10", s.Addr(), "acct", string(testSecret))
		cmd.Stdin = strings.NewReader(u)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Accounting-Response") {
			t.Fatalf("radclient: %v\n%s", err, out)
		}
	}
	if dur, up, down := sink.totals(); dur != 241 || up != 1500 || down != 2700 {
		t.Errorf("totals = %d s, %d up, %d down; want 241, 1500, 2700 (240 s, 1000, 2000 before the restart and 1 s, 500, 700 after)", dur, up, down)
	}
}

// TestRadclientClients drives a server with a clients file with radclient
// from 127.0.0.1: answered with that host's secret, dropped with the
// secret of the prefix around it.
func TestRadclientClients(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("radclient")
	if err != nil {
		t.Fatalf("radclient not found (apt-get install freeradius-utils): %v", err)
	}
	s, sink := startClientsServer(t, "127.0.0.1:0", "127.0.0.0/8 loopback-net\n127.0.0.1 radclient-host\n")
	request := "User-Name = \"234150999999999@iot.example\"\nAcct-Session-Id = \"rc-clients\"\nNAS-IP-Address = 10.9.9.9\n" +
		"Acct-Status-Type = Interim-Update\nAcct-Session-Time = 60\nAcct-Input-Octets = 100\n"
	for _, tc := range []struct {
		secret   string
		answered bool
	}{{"loopback-net", false}, {"radclient-host", true}} {
		wait := "1" // seconds of silence that mean "not answered"
		if tc.answered {
			wait = "10" // an answer is waited for long: a busy machine is slow
		}
		cmd := exec.CommandContext(t.Context(), bin, "-r", "1", "-t", wait, s.Addr(), "acct", tc.secret)
		cmd.Stdin = strings.NewReader(request)
		out, err := cmd.CombinedOutput()
		if got := err == nil && strings.Contains(string(out), "Accounting-Response"); got != tc.answered {
			t.Fatalf("secret %s: answered %v, want %v: %v\n%s", tc.secret, got, tc.answered, err, out)
		}
	}
	if got := s.settled(typeUnknown, outcomeBadAuthenticator, 1); got != 1 {
		t.Errorf("bad_authenticator = %v, want 1", got)
	}
	if got := len(sink.records()); got != 1 {
		t.Errorf("%d records, want 1", got)
	}
}

// TestDictionaryMatches checks the vendor attribute numbers against the
// FreeRADIUS dictionary lines kept in testdata.
func TestDictionaryMatches(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/dictionary.3gpp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{"IMSI": "1", "Charging-ID": "2", "GGSN-Address": "7", "IMSI-MCC-MNC": "8", "RAT-Type": "21"}
	got := map[string]string{}
	vendor := ""
	re := regexp.MustCompile(`^(ATTRIBUTE|VENDOR)\s+(\S+)\s+(\d+)`)
	for sc := bufio.NewScanner(f); sc.Scan(); {
		m := re.FindStringSubmatch(sc.Text())
		switch {
		case m == nil:
		case m[1] == "VENDOR":
			vendor = m[3]
		default:
			got[m[2]] = m[3]
		}
	}
	if vendor != "10415" {
		t.Errorf("vendor = %q, want 10415", vendor)
	}
	for name, num := range want {
		if got[name] != num {
			t.Errorf("%s = %q in dictionary, code uses %s", name, got[name], num)
		}
	}
	for v, name := range map[byte]string{1: "UTRAN", 2: "GERAN", 6: "EUTRAN", 10: "NR", 200: "RAT-200"} {
		if got := ratName(v); got != name {
			t.Errorf("ratName(%d) = %q, want %q", v, got, name)
		}
	}
}
