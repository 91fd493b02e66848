package ingest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/simcore/simcore/metering"
)

// GenConfig says what GenerateCSV writes.
type GenConfig struct {
	Records int       // data lines to write after the header
	SIMs    int       // distinct SIMs (ICCID, IMSI, MSISDN); <= 0 means 1000; at most 1e9
	Seed    int64     // same seed, same config: same bytes
	Start   time.Time // earliest start time; zero means 2024-01-01T00:00:00Z
	Days    int       // start times spread over [Start, Start+Days days); <= 0 means 1
	DupRate float64   // fraction of lines repeating an earlier valid line (same record id, same content)
	BadRate float64   // fraction of malformed lines (bad Luhn, bad time, missing fields)
	NodeID  string    // node_id column; empty means "gen-node-1"
}

// GenStats counts what GenerateCSV wrote. Lines = Unique + Duplicates + Bad.
type GenStats struct {
	Lines      int   // data lines, without the header
	Unique     int   // valid records with a record id not seen before
	Duplicates int   // lines repeating an earlier valid line
	Bad        int   // lines a parser must reject
	Bytes      int64 // bytes written, header included
}

// GenHeader is the header line GenerateCSV writes, without its newline.
const GenHeader = "record_id,node_id,type,iccid,imsi,msisdn,start_time,duration_s,bytes_up,bytes_down,mcc_mnc,rat,apn,peer_number,sequence,closing_cause"

var (
	genNetworks = [...]string{"23415", "23410", "23420", "23430", "26201", "26202", "20801", "21401", "310260", "310410", "302720", "50501"}
	genRATs     = [...]string{"EUTRAN", "EUTRAN", "EUTRAN", "NR", "NR", "UTRAN"}
	genAPNs     = [...]string{"iot.simcore", "internet", "m2m.example.com"}
)

const (
	genRingSize     = 1024 // recent valid lines kept for duplicates
	genMaxPartials  = 6
	genPartialShare = 5 // one data session in genPartialShare arrives as partial records
)

// GenerateCSV writes a canonical CSV feed of synthetic usage records to w,
// deterministically from cfg.Seed: about 70% data, 20% voice and 10% SMS,
// some data sessions as partial records (sequence 1..n, closing cause 18
// or 19, then 0 on the last), plus the duplicates and malformed lines cfg
// asks for. Partial sessions may run a few hours past Start+Days. Parsed
// with a window that covers them, the output gives Unique+Duplicates valid
// items and Bad rejected ones. It returns an error for a config out of
// range or when w fails.
func GenerateCSV(w io.Writer, cfg GenConfig) (GenStats, error) {
	if err := cfg.normalize(); err != nil {
		return GenStats{}, err
	}
	g := &generator{
		cfg:    cfg,
		rng:    rng{s: uint64(cfg.Seed)},
		w:      bufio.NewWriterSize(w, 256<<10),
		checks: make([]byte, cfg.SIMs),
		span:   int64(cfg.Days) * 86400,
	}
	g.write([]byte(GenHeader + "\n"))
	for g.stats.Lines < cfg.Records && g.err == nil {
		switch u := g.rng.float(); {
		case u < cfg.BadRate:
			g.bad()
		case u < cfg.BadRate+cfg.DupRate && g.ringLen > 0:
			g.duplicate()
		default:
			g.unique()
		}
	}
	if g.err == nil {
		g.err = g.w.Flush()
	}
	if g.err != nil {
		return g.stats, fmt.Errorf("generate csv: %w", g.err)
	}
	return g.stats, nil
}

// maxGenDays bounds GenConfig.Days: 100 years.
const maxGenDays = 36_500

func (c *GenConfig) normalize() error {
	switch {
	case c.Records < 0:
		return errors.New("generate csv: Records < 0")
	case c.SIMs > 1e9:
		return errors.New("generate csv: SIMs > 1e9")
	case c.DupRate < 0 || c.BadRate < 0 || c.DupRate+c.BadRate > 1:
		return errors.New("generate csv: DupRate and BadRate must be >= 0 and add up to at most 1")
	case c.Days > maxGenDays:
		// Seconds in the span must fit, and start times stay in the
		// years a DateTime column holds.
		return fmt.Errorf("generate csv: Days %d > %d", c.Days, maxGenDays)
	}
	if c.SIMs <= 0 {
		c.SIMs = 1000
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.Days <= 0 {
		c.Days = 1
	}
	if c.NodeID == "" {
		c.NodeID = "gen-node-1"
	}
	return nil
}

type generator struct {
	cfg    GenConfig
	rng    rng
	w      *bufio.Writer
	err    error
	stats  GenStats
	nextID uint64
	checks []byte // ICCID check digit per SIM, 0 until computed
	span   int64  // seconds over which start times spread
	line   []byte // the line being built

	session    genRecord // the partial session being written
	sessionLen int       // its number of records; 0: none open

	ring    [genRingSize][]byte
	ringLen int
	ringPos int
}

// genRecord is one line's values before formatting.
type genRecord struct {
	typ          metering.UsageType
	sim          int
	start        int64 // Unix seconds
	duration     uint64
	up, down     uint64
	network, rat string
	apn          string
	peer         uint64 // 10 digits after "44"; 0: no peer
	peerPlus     bool   // write the peer with a leading '+'
	sequence     uint64
	cause        uint64
}

func (g *generator) unique() {
	if g.sessionLen > 0 {
		g.nextPartial()
		return
	}
	r := genRecord{
		sim:   g.rng.intn(g.cfg.SIMs),
		start: g.cfg.Start.Unix() + int64(g.rng.intn(int(g.span))),
	}
	switch k := g.rng.intn(10); {
	case k < 7:
		r.typ = metering.TypeData
		r.network = genNetworks[g.rng.intn(len(genNetworks))]
		r.rat = genRATs[g.rng.intn(len(genRATs))]
		r.apn = genAPNs[g.rng.intn(len(genAPNs))]
		if g.rng.intn(genPartialShare) == 0 {
			g.partials(r)
			return
		}
		r.duration = uint64(1 + g.rng.intn(3600))
		r.up, r.down = g.volumes()
		if g.rng.intn(20) == 0 {
			r.cause = [...]uint64{4, 16, 17}[g.rng.intn(3)]
		}
	case k < 9:
		r.typ = metering.TypeVoice
		r.network = genNetworks[g.rng.intn(len(genNetworks))]
		r.rat = "EUTRAN"
		r.duration = uint64(1 + g.rng.intn(1800))
		g.peer(&r)
	default:
		r.typ = metering.TypeSMS
		g.peer(&r)
	}
	g.emitValid(&r)
}

// partials starts a data session of n partial records; unique() writes
// the rest one at a time, so duplicates and bad lines may fall between
// them as in a real feed, and the rates hold per line.
func (g *generator) partials(r genRecord) {
	g.session = r
	g.sessionLen = 2 + g.rng.intn(genMaxPartials-1)
	g.nextPartial()
}

func (g *generator) nextPartial() {
	r := &g.session
	r.sequence++
	r.duration = uint64(300 + g.rng.intn(3300))
	r.up, r.down = g.volumes()
	last := int(r.sequence) == g.sessionLen || g.stats.Lines+1 == g.cfg.Records
	r.cause = 0
	if !last {
		r.cause = 18 + uint64(g.rng.intn(2))
	}
	g.emitValid(r)
	r.start += int64(r.duration)
	if last {
		g.sessionLen = 0
	}
}

func (g *generator) volumes() (up, down uint64) {
	return uint64(g.rng.intn(5 << 20)), uint64(g.rng.intn(50 << 20))
}

// peer picks a UK peer number; one in four is written with a '+'.
func (g *generator) peer(r *genRecord) {
	r.peer = 1 + uint64(g.rng.intn(1e10-1))
	r.peerPlus = g.rng.intn(4) == 0
}

func (g *generator) emitValid(r *genRecord) {
	g.line = g.appendRecord(g.line[:0], r, g.checkDigit(r.sim))
	g.remember(g.line)
	g.write(g.line)
	g.stats.Unique++
	g.stats.Lines++
}

func (g *generator) duplicate() {
	g.write(g.ring[g.rng.intn(g.ringLen)])
	g.stats.Duplicates++
	g.stats.Lines++
}

// bad writes a malformed line with a fresh record id.
func (g *generator) bad() {
	r := genRecord{
		typ:      metering.TypeData,
		sim:      g.rng.intn(g.cfg.SIMs),
		start:    g.cfg.Start.Unix() + int64(g.rng.intn(int(g.span))),
		duration: 60,
		network:  genNetworks[0],
		rat:      genRATs[0],
		apn:      genAPNs[0],
	}
	check := g.checkDigit(r.sim)
	switch g.rng.intn(3) {
	case 0: // wrong Luhn check digit
		g.line = g.appendRecord(g.line[:0], &r, '0'+(check-'0'+1)%10)
	case 1: // a date that does not exist
		g.line = g.appendRecord(g.line[:0], &r, check)
		g.line = replaceTime(g.line, "2024-02-30T10:00:00Z")
	default: // the line is cut short
		g.line = g.appendRecord(g.line[:0], &r, check)
		g.line = cutFields(g.line, 6)
	}
	g.write(g.line)
	g.stats.Bad++
	g.stats.Lines++
}

// appendRecord appends r as a CSV line (with '\n') and takes a fresh record id.
func (g *generator) appendRecord(b []byte, r *genRecord, check byte) []byte {
	g.nextID++
	b = append(b, "g"...)
	b = appendPadded(b, g.nextID, 10)
	b = append(b, ',')
	b = append(b, g.cfg.NodeID...)
	b = append(b, ',')
	b = append(b, r.typ.String()...)
	b = append(b, ",894410"...)
	b = appendPadded(b, uint64(r.sim), 12)
	b = append(b, check, ',')
	b = append(b, "23415"...)
	b = appendPadded(b, uint64(r.sim), 10)
	b = append(b, ",447"...)
	b = appendPadded(b, uint64(r.sim), 9)
	b = append(b, ',')
	b = time.Unix(r.start, 0).UTC().AppendFormat(b, time.RFC3339)
	b = append(b, ',')
	b = strconv.AppendUint(b, r.duration, 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, r.up, 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, r.down, 10)
	b = append(b, ',')
	b = append(b, r.network...)
	b = append(b, ',')
	b = append(b, r.rat...)
	b = append(b, ',')
	b = append(b, r.apn...)
	b = append(b, ',')
	if r.peer > 0 {
		if r.peerPlus {
			b = append(b, '+')
		}
		b = append(b, "44"...)
		b = appendPadded(b, r.peer, 10)
	}
	b = append(b, ',')
	if r.sequence > 0 {
		b = strconv.AppendUint(b, r.sequence, 10)
	}
	b = append(b, ',')
	b = strconv.AppendUint(b, r.cause, 10)
	return append(b, '\n')
}

// checkDigit returns the ICCID check digit of a SIM, computing it once.
func (g *generator) checkDigit(sim int) byte {
	if c := g.checks[sim]; c != 0 {
		return c
	}
	var buf [18]byte
	b := append(buf[:0], "894410"...)
	b = appendPadded(b, uint64(sim), 12)
	c := metering.LuhnCheckDigit(string(b))
	g.checks[sim] = c
	return c
}

func (g *generator) remember(line []byte) {
	slot := g.ring[g.ringPos][:0]
	g.ring[g.ringPos] = append(slot, line...)
	g.ringPos = (g.ringPos + 1) % genRingSize
	g.ringLen = min(g.ringLen+1, genRingSize)
}

func (g *generator) write(b []byte) {
	if g.err != nil {
		return
	}
	n, err := g.w.Write(b)
	g.stats.Bytes += int64(n)
	g.err = err
}

// replaceTime swaps the start_time field (the 7th) of a line for t.
func replaceTime(line []byte, t string) []byte {
	a, b := fieldRange(line, 6)
	out := append([]byte(nil), line[:a]...)
	out = append(out, t...)
	return append(out, line[b:]...)
}

// cutFields keeps the first n fields of a line.
func cutFields(line []byte, n int) []byte {
	_, b := fieldRange(line, n-1)
	return append(line[:b], '\n')
}

// fieldRange returns the byte range of the i-th (0-based) comma-separated field.
func fieldRange(line []byte, i int) (int, int) {
	start := 0
	for j, c := range line {
		if c == ',' || c == '\n' {
			if i == 0 {
				return start, j
			}
			i--
			start = j + 1
		}
	}
	return start, len(line)
}

// appendPadded appends n in decimal, zero-padded to width digits.
func appendPadded(b []byte, n uint64, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for n > 0 || i > len(buf)-width {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, buf[i:]...)
}

// rng is SplitMix64: tiny, fast, and fixed forever, so a seed always gives
// the same feed whatever the Go version.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// intn returns a number in [0, n); n > 0. The modulo bias is irrelevant here.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }
