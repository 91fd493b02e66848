package portal

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRegistrationValidate(t *testing.T) {
	t.Parallel()
	ok := Registration{Email: " Ada@Example.COM ", Password: "long enough pw", Name: " Ada ", AcceptedTerms: true}
	for _, tt := range []struct {
		name  string
		edit  func(*Registration)
		field string
	}{
		{"ok", func(*Registration) {}, ""},
		{"no email", func(r *Registration) { r.Email = "" }, "email"},
		{"not an email", func(r *Registration) { r.Email = "ada" }, "email"},
		{"display name", func(r *Registration) { r.Email = "Ada <ada@example.com>" }, "email"},
		{"no domain dot", func(r *Registration) { r.Email = "ada@localhost" }, "email"},
		{"too long email", func(r *Registration) { r.Email = strings.Repeat("a", 250) + "@x.io" }, "email"},
		{"no name", func(r *Registration) { r.Name = " " }, "name"},
		{"control in name", func(r *Registration) { r.Name = "Ada\x00" }, "name"},
		{"short password", func(r *Registration) { r.Password = "123456789" }, "password"},
		{"long password", func(r *Registration) { r.Password = strings.Repeat("x", MaxPasswordLen+1) }, "password"},
		{"unknown language", func(r *Registration) { r.Language = "fr" }, "language"},
		{"terms", func(r *Registration) { r.AcceptedTerms = false }, "accepted_terms"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := ok
			tt.edit(&r)
			err := r.Validate()
			var fe *FieldError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.field == "":
				if r.Email != "ada@example.com" || r.Name != "Ada" || r.Language != DefaultLanguage {
					t.Fatalf("normalised to %+v", r)
				}
			case !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrInvalid):
				t.Fatalf("Validate = %v, want a FieldError on %q", err, tt.field)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	a, ha := NewToken()
	b, _ := NewToken()
	if a == b || len(a) != 43 || !WellFormedToken(a) || string(ha) != string(HashToken(a)) || len(ha) != 32 {
		t.Fatalf("tokens %q %q: want distinct 43-character base64url tokens with their SHA-256", a, b)
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", 42), strings.Repeat("*", 43), a + "A"} {
		if WellFormedToken(bad) {
			t.Errorf("WellFormedToken(%q) = true", bad)
		}
	}
	csrf, h := NewToken()
	s := Session{CSRFHash: h}
	if !s.CheckCSRF(csrf) || s.CheckCSRF(a) || s.CheckCSRF("") || (Session{}).CheckCSRF(csrf) {
		t.Fatal("CheckCSRF accepts a wrong token or refuses the right one")
	}
}

func TestAccountMailsInEveryLanguage(t *testing.T) {
	t.Parallel()
	for _, lang := range Languages {
		for _, m := range []mailText{resetMail(lang, "https://p.example/", "TOKEN", time.Hour), verifyMail(lang, "https://p.example", "TOKEN", 24*time.Hour)} {
			if m.subject == "" || !strings.Contains(m.text, "TOKEN") || !strings.Contains(m.text, "https://p.example/") || strings.Contains(m.text, "%!") {
				t.Errorf("%s %s mail: %q / %q", lang, m.kind, m.subject, m.text)
			}
		}
	}
	if m := resetMail("xx", "", "T", time.Hour); m.subject != accountMails["reset"]["en"][0] {
		t.Errorf("unknown language falls back to %q, want English", m.subject)
	}
}

func TestAddrLimitID(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, addr, want string }{
		{"IPv4 as is", "198.51.100.7", "198.51.100.7"},
		{"IPv4-mapped IPv6 as IPv4", "::ffff:198.51.100.7", "198.51.100.7"},
		{"IPv6 by its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"another address of the same /64", "2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"the next /64", "2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"zone dropped", "fe80::1%eth0", "fe80::/64"},
		{"not an address: as is", "pipe", "pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := addrLimitID(tt.addr); got != tt.want {
				t.Fatalf("addrLimitID(%q) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}
