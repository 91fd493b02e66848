package postgres_test

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/provisioning"
	"github.com/simcore/simcore/provisioning/postgres"
)

func TestMigrate(t *testing.T) {
	t.Parallel()
	url := testenv.Postgres(t, "provisioning", postgres.MigrationsVersion(), postgres.Migrate)
	ctx := testenv.Context(t, time.Minute)
	// The template is migrated: a second run finds nothing to do.
	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	e := newEnv(t)
	var version int64
	if err := e.pool.QueryRow(e.ctx, `SELECT max(version_id) FROM `+postgres.VersionTable).Scan(&version); err != nil {
		t.Fatalf("read %s: %v", postgres.VersionTable, err)
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if version != int64(len(files)) {
		t.Errorf("version %d, want %d (one per migration file)", version, len(files))
	}
	if v := postgres.MigrationsVersion(); !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(v) || v != postgres.MigrationsVersion() {
		t.Errorf("MigrationsVersion %q: want 16 stable hex digits", v)
	}
	if err := postgres.Migrate(context.Background(), "postgres://%zz"); err == nil {
		t.Error("Migrate with a bad url: no error")
	}
}

func TestImportSIMs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	have := newSIMRow() // already in the inventory
	if _, err := e.store.ImportSIMs(e.ctx, []provisioning.SIMImportRow{have}, hasher); err != nil {
		t.Fatal(err)
	}

	good1, good2 := newSIMRow(), newSIMRow()
	badLuhn := newSIMRow()
	badLuhn.ICCID = badLuhn.ICCID[:len(badLuhn.ICCID)-1] + string('0'+(badLuhn.ICCID[len(badLuhn.ICCID)-1]-'0'+1)%10)
	shortIMSI := newSIMRow()
	shortIMSI.IMSI = shortIMSI.IMSI[:12]
	dupICCID := newSIMRow()
	dupICCID.ICCID = good1.ICCID
	dupIMSI := newSIMRow()
	dupIMSI.IMSI = good1.IMSI
	inICCID := newSIMRow()
	inICCID.ICCID = have.ICCID
	inIMSI := newSIMRow()
	inIMSI.IMSI = have.IMSI
	shortCode := newSIMRow()
	shortCode.ActivationCode = "12345"
	otherCode := have
	otherCode.ActivationCode = have.ActivationCode + "X"

	rows := []provisioning.SIMImportRow{good1, badLuhn, shortIMSI, dupICCID, dupIMSI, inICCID, inIMSI, shortCode, good2}
	res, err := e.store.ImportSIMs(e.ctx, rows, hasher)
	if err != nil {
		t.Fatalf("ImportSIMs: %v", err)
	}
	want := postgres.ImportResult{Imported: 2, Rejected: []postgres.RowError{
		{Row: 2, Field: "iccid", Reason: "iccid_luhn"},
		{Row: 3, Field: "imsi", Reason: "want 14 or 15 digits"},
		{Row: 4, Field: "iccid", Reason: "duplicate of row 1", DuplicateOf: 1},
		{Row: 5, Field: "imsi", Reason: "duplicate of row 1", DuplicateOf: 1},
		{Row: 6, Field: "iccid", Reason: "already in inventory with IMSI " + have.IMSI},
		{Row: 7, Field: "imsi", Reason: "already in inventory on ICCID " + have.ICCID},
		{Row: 8, Field: "activation_code", Reason: "want 6 to 64 characters without surrounding spaces"},
	}}
	if d := cmp.Diff(want, res); d != "" {
		t.Errorf("ImportSIMs (-want +got):\n%s", d)
	}
	// The card as the inventory holds it is unchanged, not an error; with
	// another activation code it clashes (a row is one card: the same
	// ICCID and IMSI).
	for _, c := range []struct {
		row  provisioning.SIMImportRow
		want postgres.ImportResult
	}{
		{have, postgres.ImportResult{Unchanged: 1}},
		{otherCode, postgres.ImportResult{Rejected: []postgres.RowError{{Row: 1, Field: "activation_code", Reason: "already in inventory with another activation code"}}}},
	} {
		res, err := e.store.ImportSIMs(e.ctx, []provisioning.SIMImportRow{c.row}, hasher)
		if err != nil {
			t.Fatalf("ImportSIMs(%+v): %v", c.row, err)
		}
		if d := cmp.Diff(c.want, res); d != "" {
			t.Errorf("ImportSIMs(%+v) (-want +got):\n%s", c.row, d)
		}
	}

	for _, c := range []struct {
		name string
		row  provisioning.SIMImportRow
		want error // of SIM
	}{
		{"good row stored in stock", good1, nil},
		{"last good row stored", good2, nil},
		{"row with a duplicate IMSI not stored", dupIMSI, provisioning.ErrSIMNotFound},
		{"row with an IMSI in inventory not stored", inIMSI, provisioning.ErrSIMNotFound},
		{"bad row not stored", shortCode, provisioning.ErrSIMNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := e.store.SIM(e.ctx, c.row.ICCID)
			wantErr(t, "SIM", err, c.want)
			if c.want != nil {
				return
			}
			if d := cmp.Diff(provisioning.SIM{ICCID: c.row.ICCID, IMSI: c.row.IMSI, State: provisioning.SIMInStock}, m); d != "" {
				t.Errorf("SIM (-want +got):\n%s", d)
			}
		})
	}
	// The card already in inventory keeps its own IMSI and activation code.
	if m, err := e.store.SIM(e.ctx, have.ICCID); err != nil || m.IMSI != have.IMSI {
		t.Errorf("SIM %s = %+v, %v; want IMSI %s", have.ICCID, m, err, have.IMSI)
	}
	for code, want := range map[string]bool{have.ActivationCode: true, otherCode.ActivationCode: false} {
		if ok, err := e.store.VerifyActivationCode(e.ctx, have.ICCID, code, hasher); err != nil || ok != want {
			t.Errorf("VerifyActivationCode(%s, %q) = %v, %v; want %v", have.ICCID, code, ok, err, want)
		}
	}
}

func TestImportSIMsBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	have := newSIMRow()
	if _, err := e.store.ImportSIMs(e.ctx, []provisioning.SIMImportRow{have}, hasher); err != nil {
		t.Fatal(err)
	}
	// More rows than one INSERT carries, the clash in a later batch.
	rows := make([]provisioning.SIMImportRow, 12_000)
	for i := range rows {
		rows[i] = newSIMRow()
	}
	rows[11_000].IMSI = have.IMSI
	res, err := e.store.ImportSIMs(e.ctx, rows, hasher)
	if err != nil {
		t.Fatalf("ImportSIMs: %v", err)
	}
	want := postgres.ImportResult{Imported: len(rows) - 1, Rejected: []postgres.RowError{{Row: 11_001, Field: "imsi", Reason: "already in inventory on ICCID " + have.ICCID}}}
	if d := cmp.Diff(want, res); d != "" {
		t.Errorf("ImportSIMs (-want +got):\n%s", d)
	}
	var n int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM sims WHERE state = 'in_stock'`).Scan(&n); err != nil || n != len(rows) {
		t.Errorf("sims in stock: %d, %v; want %d", n, err, len(rows))
	}
	// Importing the same file again stores nothing and finds every stored
	// row unchanged, in every batch; the clash is still one.
	res, err = e.store.ImportSIMs(e.ctx, rows, hasher)
	want.Imported, want.Unchanged = 0, len(rows)-1
	if err != nil {
		t.Fatalf("ImportSIMs again: %v", err)
	}
	if d := cmp.Diff(want, res); d != "" {
		t.Errorf("ImportSIMs again (-want +got):\n%s", d)
	}
}

func TestImportSIMsNoKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.store.ImportSIMs(e.ctx, []provisioning.SIMImportRow{newSIMRow()}, nil)
	wantErr(t, "ImportSIMs without a key", err, provisioning.ErrNoActivationKey)
	res, err := e.store.ImportSIMs(e.ctx, nil, hasher)
	if err != nil || res.Imported != 0 || res.Rejected != nil {
		t.Errorf("ImportSIMs(nil) = %+v, %v", res, err)
	}
}

func TestVerifyActivationCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.sim(t), e.sim(t)
	other, err := provisioning.NewActivationHasher([]byte("another key of at least 16 bytes"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		iccid string
		code  string
		h     *provisioning.ActivationHasher
		want  bool
		err   error
	}{
		{"right code", a.ICCID, codeOf(a.ICCID), hasher, true, nil},
		{"wrong code", a.ICCID, "000000", hasher, false, nil},
		{"another card's code", a.ICCID, codeOf(b.ICCID), hasher, false, nil},
		{"code with a space", a.ICCID, codeOf(a.ICCID) + " ", hasher, false, nil},
		{"another key", a.ICCID, codeOf(a.ICCID), other, false, nil},
		{"unknown card", newICCID(), "123456", hasher, false, provisioning.ErrSIMNotFound},
		{"no key", a.ICCID, codeOf(a.ICCID), nil, false, provisioning.ErrNoActivationKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := e.store.VerifyActivationCode(e.ctx, c.iccid, c.code, c.h)
			wantErr(t, "VerifyActivationCode", err, c.err)
			if got != c.want {
				t.Errorf("VerifyActivationCode = %v, want %v", got, c.want)
			}
		})
	}
}

func TestSIM(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.sim(t)
	got, err := e.store.SIM(e.ctx, m.ICCID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(m, got); d != "" {
		t.Errorf("SIM (-want +got):\n%s", d)
	}
	_, err = e.store.SIM(e.ctx, newICCID())
	wantErr(t, "SIM of an unknown card", err, provisioning.ErrSIMNotFound)
}
