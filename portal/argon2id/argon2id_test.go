package argon2id

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// fast keeps the tests quick; the format and logic are what is tested.
var fast = Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	h, err := New(fast)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := h.Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with our parameters", enc)
	}
	for _, tt := range []struct {
		name, password string
		want           bool
	}{
		{"right", "correct horse battery", true},
		{"wrong", "correct horse batterY", false},
		{"empty", "", false},
		{"prefix", "correct horse", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Verify(tt.password, enc)
			if err != nil || got != tt.want {
				t.Fatalf("Verify(%q) = %v, %v; want %v", tt.password, got, err, tt.want)
			}
		})
	}
	again, _ := h.Hash("correct horse battery")
	if again == enc {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

// TestVerifyReadsParametersFromTheHash checks a hash made with other
// parameters (as after raising DefaultParams) still verifies.
func TestVerifyReadsParametersFromTheHash(t *testing.T) {
	t.Parallel()
	old, _ := New(Params{MemoryKiB: 32, Time: 3, Threads: 2, SaltLen: 8, KeyLen: 16})
	enc, _ := old.Hash("pw")
	cur, _ := New(fast)
	if ok, err := cur.Verify("pw", enc); !ok || err != nil {
		t.Fatalf("Verify with other parameters = %v, %v", ok, err)
	}
}

// TestKnownVector checks the encoding against argon2.IDKey directly, so a
// change in how salt or key are encoded cannot pass unnoticed.
func TestKnownVector(t *testing.T) {
	t.Parallel()
	salt, _ := hex.DecodeString("0102030405060708090a0b0c0d0e0f10")
	key := argon2.IDKey([]byte("password"), salt, 1, 64, 1, 32)
	enc := "$argon2id$v=19$m=64,t=1,p=1$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)
	h, _ := New(fast)
	if ok, err := h.Verify("password", enc); !ok || err != nil {
		t.Fatalf("Verify(known vector) = %v, %v", ok, err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	h, _ := New(fast)
	for _, enc := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=16$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=9999999999,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=64,t=0,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA",
	} {
		if ok, err := h.Verify("x", enc); ok || !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v, %v; want ErrMalformed", enc, ok, err)
		}
	}
}

func TestNewRefusesWeakParameters(t *testing.T) {
	t.Parallel()
	if _, err := New(Params{MemoryKiB: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}); err == nil {
		t.Fatal("New accepted t=0")
	}
	if _, err := New(DefaultParams); err != nil {
		t.Fatalf("New(DefaultParams): %v", err)
	}
}
