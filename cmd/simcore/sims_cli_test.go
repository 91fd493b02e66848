package main

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simcore/simcore/internal/testenv"
	ppg "github.com/simcore/simcore/provisioning/postgres"
)

// TestSIMsImport loads an inventory file with good and bad rows through the
// CLI: good rows are stored in stock with verifiable activation codes, each
// bad row is reported with its file line, and a second import of the same
// file stores nothing new and finds the stored cards unchanged.
func TestSIMsImport(t *testing.T) {
	env := map[string]string{
		"SIMCORE_POSTGRES_URL":   testenv.Postgres(t, "provisioning", ppg.MigrationsVersion(), ppg.Migrate),
		"SIMCORE_ACTIVATION_KEY": "00112233445566778899aabbccddeeff",
		"SIMCORE_LOG_LEVEL":      "warn",
	}
	file := filepath.Join(t.TempDir(), "sims.csv")
	rows := []string{
		"iccid,imsi,activation_code",
		demoICCID(1) + ",234150000000001,ABC12345",
		demoICCID(2) + ",234150000000002,ABC12346",
		"8944100000000000013,234150000000003,ABC12347", // wrong Luhn digit
		demoICCID(4) + ",2341500,ABC12348",             // IMSI too short
		demoICCID(1) + ",234150000000005,ABC12349",     // ICCID repeated
		demoICCID(6) + ",234150000000006,123",          // code too short
	}
	if err := os.WriteFile(file, []byte(strings.Join(rows, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(context.Background(), env, "sims", "import", file)
	if err != nil {
		t.Fatalf("sims import: %v\n%s", err, errOut)
	}
	var sum map[string]int
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	if sum["read"] != 6 || sum["imported"] != 2 || sum["rejected"] != 4 {
		t.Fatalf("summary %v, want read 6, imported 2, rejected 4", sum)
	}
	for _, want := range []string{"line 4: iccid", "line 5: imsi", "line 6: iccid", "line 7: activation_code"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("rejects lack %q:\n%s", want, errOut)
		}
	}
	if sum["unchanged"] != 0 {
		t.Errorf("summary %v, want unchanged 0", sum)
	}
	again, againErr, err := runCLI(context.Background(), env, "sims", "import", file)
	if err != nil {
		t.Fatalf("second import: %v\n%s", err, againErr)
	}
	sum = nil
	if err := json.Unmarshal([]byte(again), &sum); err != nil {
		t.Fatalf("second summary %q: %v", again, err)
	}
	// The two stored cards are found as they are; the four bad rows are
	// still bad, and reported again.
	if want := map[string]int{"read": 6, "imported": 0, "unchanged": 2, "rejected": 4}; !maps.Equal(sum, want) {
		t.Errorf("second summary %v, want %v", sum, want)
	}
	if strings.Count(againErr, "\n") != 4 {
		t.Errorf("second import's rejects, want 4 lines:\n%s", againErr)
	}
	if _, _, err := runCLI(context.Background(), map[string]string{"SIMCORE_POSTGRES_URL": env["SIMCORE_POSTGRES_URL"]}, "sims", "import", file); !isUsage(err) {
		t.Fatalf("without an activation key: %v, want a usage error", err)
	}
}

// importFile runs `simcore sims import` on a file with content and returns
// its summary and what it wrote to stderr (the rejects).
func importFile(t *testing.T, content string) (map[string]int, string) {
	t.Helper()
	env := map[string]string{
		"SIMCORE_POSTGRES_URL":   testenv.Postgres(t, "provisioning", ppg.MigrationsVersion(), ppg.Migrate),
		"SIMCORE_ACTIVATION_KEY": "00112233445566778899aabbccddeeff",
		"SIMCORE_LOG_LEVEL":      "warn",
	}
	file := filepath.Join(t.TempDir(), "sims.csv")
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(context.Background(), env, "sims", "import", file)
	if err != nil {
		t.Fatalf("sims import: %v\n%s", err, errOut)
	}
	var sum map[string]int
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	return sum, errOut
}

// TestSIMsImportLineNumbersAfterBlankLine: rejects name the file's line,
// also after a blank line (which encoding/csv skips; the row index is not
// the line).
func TestSIMsImportLineNumbersAfterBlankLine(t *testing.T) {
	content := strings.Join([]string{
		"iccid,imsi,activation_code",                // line 1
		demoICCID(11) + ",234150000000011,ABC12345", // line 2
		"",                                  // line 3 (blank)
		demoICCID(12) + ",2341500,ABC12346", // line 4: IMSI too short
	}, "\n") + "\n"
	_, errOut := importFile(t, content)
	if !strings.Contains(errOut, "line 4: imsi") {
		t.Fatalf("reject report %q; want it to name file line 4 (the bad IMSI)", errOut)
	}
}

// TestSIMsImportBOMHeader: a CSV saved by Excel or LibreOffice as "CSV
// UTF-8" starts with a byte-order mark; its header is still recognised,
// not rejected as a row with a bad ICCID.
func TestSIMsImportBOMHeader(t *testing.T) {
	content := "\ufefficcid,imsi,activation_code\n" + demoICCID(21) + ",234150000000021,ABC12345\n"
	sum, errOut := importFile(t, content)
	if sum["read"] != 1 || sum["rejected"] != 0 {
		t.Fatalf("summary %v, rejects %q; want the BOM-prefixed header skipped: read 1, rejected 0", sum, errOut)
	}
}

// TestSIMsImportDuplicateNamesLine: a repeated ICCID or IMSI is reported
// with the file line of the row it repeats, as the reject itself is. It
// used to say "line 4: iccid: duplicate of row 1": row 1 is the first data
// row, on line 2 of a file with a header, so the operator looked at the
// wrong line.
func TestSIMsImportDuplicateNamesLine(t *testing.T) {
	_, errOut := importFile(t, "iccid,imsi,activation_code\n"+
		demoICCID(1)+",234150000000001,ABC12345\n"+
		"\n"+
		demoICCID(2)+",234150000000002,ABC12346\n"+
		demoICCID(1)+",234150000000005,ABC12349\n"+
		demoICCID(6)+",234150000000002,ABC12350\n")
	for _, want := range []string{"line 5: iccid: duplicate of line 2\n", "line 6: imsi: duplicate of line 4\n"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("rejects lack %q:\n%s", want, errOut)
		}
	}
}

// TestActivationKeyNotHexHidesKey: a SIMCORE_ACTIVATION_KEY that is not
// hex is a usage error that says what is wrong without showing any of the
// key. encoding/hex's error quoted the offending character, a piece of the
// secret, on stderr and in the journal.
func TestActivationKeyNotHexHidesKey(t *testing.T) {
	t.Parallel()
	csv := filepath.Join(t.TempDir(), "sims.csv")
	if err := os.WriteFile(csv, []byte("iccid,imsi,activation_code\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, key, want string }{
		{"a character that is not a hex digit", "00112233445566778899aabbccddeeQ7", "not a hex digit"},
		{"an odd number of digits", "00112233445566778899aabbccddeef", "odd number"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, err := runCLI(context.Background(), map[string]string{"SIMCORE_ACTIVATION_KEY": tt.key}, "sims", "import", csv)
			if !isUsage(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a usage error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error()+errOut, "Q") || strings.Contains(err.Error()+errOut, "eef") {
				t.Fatalf("the error shows part of the key: %v\n%s", err, errOut)
			}
		})
	}
}
