package smpp

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// vector is a row of the captured PDU and receipt fixtures in testdata
// (see testdata/README.md).
type vector struct {
	method, kind, value string
}

func hexBytes(s string) ([]byte, error) { return hex.DecodeString(s) }

func (v vector) bytes(t *testing.T) []byte {
	t.Helper()
	b, err := hex.DecodeString(v.value)
	if err != nil {
		t.Fatalf("%s: %v", v.method, err)
	}
	return b
}

func readVectors(t testing.TB, file string) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var out []vector
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n")[1:] {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			t.Fatalf("%s: bad row %q", file, line)
		}
		out = append(out, vector{f[0], f[1], f[2]})
	}
	return out
}

// vectorBytes returns the hex of the first row of method and kind.
func vectorBytes(t *testing.T, file, method, kind string) []byte {
	t.Helper()
	for _, v := range readVectors(t, file) {
		if v.method == method && v.kind == kind {
			return v.bytes(t)
		}
	}
	t.Fatalf("%s: no %s %s", file, method, kind)
	return nil
}
