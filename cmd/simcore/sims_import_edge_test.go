package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simcore/simcore/internal/testenv"
	ppg "github.com/simcore/simcore/provisioning/postgres"
)

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
