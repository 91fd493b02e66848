package ingest

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/metering"
)

func TestGenerateCSVDeterministic(t *testing.T) {
	t.Parallel()
	cfg := GenConfig{Records: 5000, SIMs: 100, Seed: 3, DupRate: 0.05, BadRate: 0.05}
	var a, b, c bytes.Buffer
	sa, err := GenerateCSV(&a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := GenerateCSV(&b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || sa != sb {
		t.Fatal("same seed gave different output")
	}
	cfg.Seed = 4
	if _, err := GenerateCSV(&c, cfg); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatal("different seeds gave the same output")
	}
	if sa.Bytes != int64(a.Len()) {
		t.Fatalf("Bytes = %d, wrote %d", sa.Bytes, a.Len())
	}
}

func TestGenerateCSVParses(t *testing.T) {
	t.Parallel()
	start := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		cfg  GenConfig
	}{
		{name: "clean", cfg: GenConfig{Records: 20_000, SIMs: 500, Seed: 1, Start: start, Days: 30}},
		{name: "dirty", cfg: GenConfig{Records: 20_000, SIMs: 50, Seed: 2, Start: start, Days: 30, DupRate: 0.1, BadRate: 0.05, NodeID: "pgw-9"}},
		{name: "mostly bad", cfg: GenConfig{Records: 2_000, Seed: 5, Start: start, Days: 2, DupRate: 0.3, BadRate: 0.7}},
		{name: "defaults", cfg: GenConfig{Records: 3, Seed: 6}},
		{name: "none", cfg: GenConfig{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			stats, err := GenerateCSV(&buf, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if stats.Lines != tt.cfg.Records || stats.Unique+stats.Duplicates+stats.Bad != stats.Lines {
				t.Fatalf("stats = %+v for %d records", stats, tt.cfg.Records)
			}
			if r := tt.cfg.DupRate; r > 0 && !near(stats.Duplicates, r*float64(stats.Lines)) {
				t.Errorf("Duplicates = %d, want about %.0f", stats.Duplicates, r*float64(stats.Lines))
			}
			if r := tt.cfg.BadRate; r > 0 && !near(stats.Bad, r*float64(stats.Lines)) {
				t.Errorf("Bad = %d, want about %.0f", stats.Bad, r*float64(stats.Lines))
			}

			s := NewSplitter(&buf, 64<<10, true)
			header, err := s.ReadHeaderLine()
			if err != nil || string(header) != GenHeader {
				t.Fatalf("header = %q, %v", header, err)
			}
			// A window that covers the generated period, whenever the test runs.
			cfgStart := tt.cfg.Start
			if cfgStart.IsZero() {
				cfgStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			}
			pc := ParserConfig{Now: cfgStart.AddDate(0, 0, 40), MaxAge: 41 * 24 * time.Hour}
			p, err := NewCSVParser(header, pc)
			if err != nil {
				t.Fatal(err)
			}
			var items []Item
			for {
				c, err := s.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				items = p.Parse(c, items)
			}

			seen := map[metering.Key]string{}
			var valid, dups, bad int
			types := map[metering.UsageType]int{}
			for _, it := range items {
				if it.Reason != "" {
					bad++
					switch it.Reason {
					case "iccid_luhn", "bad_start_time", "csv_field_count":
					default:
						t.Fatalf("line %d: unexpected reason %s (%s)", it.Line, it.Reason, it.Detail)
					}
					continue
				}
				valid++
				k := it.Record.Key()
				if prev, ok := seen[k]; ok {
					dups++
					if prev != string(it.Raw) {
						t.Fatalf("line %d repeats record id %s with other content", it.Line, it.Record.RecordID)
					}
					continue
				}
				seen[k] = string(it.Raw)
				types[it.Record.Type]++
				if tt.cfg.NodeID != "" && it.Record.NodeID != tt.cfg.NodeID {
					t.Fatalf("line %d: node %q", it.Line, it.Record.NodeID)
				}
			}
			if valid != stats.Unique+stats.Duplicates || dups != stats.Duplicates || bad != stats.Bad {
				t.Fatalf("parsed %d valid (%d duplicates), %d bad; stats %+v", valid, dups, bad, stats)
			}
			if stats.Unique >= 1000 {
				data, voice, sms := float64(types[metering.TypeData]), float64(types[metering.TypeVoice]), float64(types[metering.TypeSMS])
				n := float64(stats.Unique)
				if data/n < 0.6 || voice/n < 0.1 || sms/n < 0.04 {
					t.Errorf("type mix data %.2f voice %.2f sms %.2f", data/n, voice/n, sms/n)
				}
			}
		})
	}
}

func TestGenerateCSVPartials(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if _, err := GenerateCSV(&buf, GenConfig{Records: 5000, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	p, err := NewCSVParser([]byte(GenHeader), ParserConfig{})
	if err != nil {
		t.Fatal(err)
	}
	body := buf.Bytes()[len(GenHeader)+1:]
	items := p.Parse(Chunk{Data: body, FirstLine: 2, Offset: int64(len(GenHeader) + 1)}, nil)
	var sessions, open int
	var lastSeq uint32
	for _, it := range items {
		r := it.Record
		if r.Sequence == 0 {
			if open != 0 {
				t.Fatalf("line %d: single record inside a partial session", it.Line)
			}
			continue
		}
		if r.Sequence != lastSeq+1 || r.Type != metering.TypeData {
			t.Fatalf("line %d: sequence %d after %d", it.Line, r.Sequence, lastSeq)
		}
		lastSeq = r.Sequence
		open = 1
		switch r.ClosingCause {
		case 0:
			sessions++
			lastSeq, open = 0, 0
		case 18, 19:
		default:
			t.Fatalf("line %d: closing cause %d in a partial session", it.Line, r.ClosingCause)
		}
	}
	if sessions < 100 {
		t.Fatalf("%d partial sessions in 5000 records", sessions)
	}
}

func TestGenerateCSVErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  GenConfig
		w    io.Writer
	}{
		{name: "negative records", cfg: GenConfig{Records: -1}, w: io.Discard},
		{name: "rates above one", cfg: GenConfig{Records: 1, DupRate: 0.6, BadRate: 0.5}, w: io.Discard},
		{name: "negative rate", cfg: GenConfig{Records: 1, DupRate: -0.1}, w: io.Discard},
		{name: "too many SIMs", cfg: GenConfig{Records: 1, SIMs: 2e9}, w: io.Discard},
		{name: "writer fails", cfg: GenConfig{Records: 100_000}, w: failWriter{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := GenerateCSV(tt.w, tt.cfg); err == nil || !strings.HasPrefix(err.Error(), "generate csv") {
				t.Fatalf("GenerateCSV error = %v", err)
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// near reports whether got is within 20% (or 30 counts) of want.
func near(got int, want float64) bool {
	d := float64(got) - want
	if d < 0 {
		d = -d
	}
	return d <= max(0.2*want, 30)
}

func BenchmarkGenerate(b *testing.B) {
	cfg := GenConfig{Records: 100_000, SIMs: 10_000, Seed: 1, Days: 30, DupRate: 0.01, BadRate: 0.01}
	var lines int
	b.ReportAllocs()
	for b.Loop() {
		st, err := GenerateCSV(io.Discard, cfg)
		if err != nil {
			b.Fatal(err)
		}
		lines += st.Lines
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}
