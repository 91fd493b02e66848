package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/simcore/simcore/metering"
)

// ErrInvalidMapping is wrapped by LoadMapping, ParseMapping and
// NewMappedParser when a mapping cannot describe a feed.
var ErrInvalidMapping = errors.New("invalid mapping")

// Mapping describes a vendor CSV export: its dialect, how to read times
// and usage types, and where each Record field comes from. Build one with
// LoadMapping or ParseMapping, which validate it; a Mapping is immutable
// and may be shared.
type Mapping struct {
	sep      byte
	comment  byte
	header   bool
	quote    bool
	conv     converter
	sources  [numFields]source
	template metering.Record // constants applied
}

// source is where a field comes from: a column by name or position, or a constant.
type source struct {
	set   bool
	name  string // column by header name
	pos   int    // column by 1-based position
	isVal bool   // a constant, already in the template
	line  int    // YAML line, for errors
}

// mappingFile is the YAML form of a Mapping.
type mappingFile struct {
	Separator  *string                  `yaml:"separator"`
	Comment    string                   `yaml:"comment"`
	Header     bool                     `yaml:"header"`
	Quote      *bool                    `yaml:"quote"`
	TimeLayout string                   `yaml:"time_layout"`
	TimeZone   string                   `yaml:"time_zone"`
	TypeValues yaml.Node                `yaml:"type_values"`
	Fields     map[string]mappingSource `yaml:"fields"`
}

type mappingSource struct {
	Column yaml.Node `yaml:"column"`
	Value  yaml.Node `yaml:"value"`
}

// LoadMapping reads and validates the YAML mapping file at path. Errors
// name the offending key and wrap ErrInvalidMapping (or the os error when
// the file cannot be read).
//
// The file's keys: separator (one byte, default ","), comment (one byte;
// lines starting with it are skipped, before the header too, and end at
// their line break whatever quotes they hold), header (the first line that
// is not blank or a comment names the columns), quote (RFC 4180 quoting,
// default true), time_layout (a Go layout, or "rfc3339" (default), "unix",
// "unix_ms"), time_zone (IANA name for layouts without an offset, default
// UTC; a wall time repeated when clocks go back is its first occurrence,
// one skipped when they go forward takes the offset before the change; a
// layout with a zone abbreviation (MST) takes only the abbreviations
// time_zone defines, and GMT/UTC), type_values (vendor name to
// data|voice|sms, each name once, in any letter case) and fields: for
// each Record field (the canonical CSV names), either {column: "NAME"}
// (needs header: true), {column: N} (1-based, at most MaxMappedColumn) or
// {value: "constant"}. record_id, type, iccid and start_time are required.
func LoadMapping(path string) (*Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load mapping: %w", err)
	}
	m, err := ParseMapping(data)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	return m, nil
}

// ParseMapping validates a mapping given as YAML text (see LoadMapping).
func ParseMapping(data []byte) (*Mapping, error) {
	var mf mappingFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&mf); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("empty document: %w", ErrInvalidMapping)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidMapping, err)
	}
	m, err := mf.build()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidMapping, err)
	}
	return m, nil
}

// HasHeader reports whether the feed's first line is a header; read it with
// Splitter.ReadHeaderLine and pass it to NewMappedParser.
func (m *Mapping) HasHeader() bool { return m.header }

// QuoteAware reports whether the feed uses RFC 4180 quoting, the value to
// pass to NewSplitter.
func (m *Mapping) QuoteAware() bool { return m.quote }

// CommentPrefix is the byte that starts a comment line; 0 when none.
func (m *Mapping) CommentPrefix() byte { return m.comment }

func (mf *mappingFile) build() (*Mapping, error) {
	m := &Mapping{sep: ',', header: mf.Header, quote: true}
	if mf.Separator != nil {
		s := *mf.Separator
		if len(s) != 1 {
			return nil, fmt.Errorf("separator: %q must be exactly one byte", s)
		}
		if s[0] == '"' || s[0] == '\n' || s[0] == '\r' {
			return nil, fmt.Errorf("separator: %q cannot separate fields", s)
		}
		m.sep = s[0]
	}
	if mf.Comment != "" {
		if len(mf.Comment) != 1 {
			return nil, fmt.Errorf("comment: %q must be exactly one byte", mf.Comment)
		}
		if mf.Comment[0] == m.sep || mf.Comment[0] == '"' || mf.Comment[0] == '\n' || mf.Comment[0] == '\r' {
			return nil, fmt.Errorf("comment: %q clashes with the separator, quote or line end", mf.Comment)
		}
		m.comment = mf.Comment[0]
	}
	if mf.Quote != nil {
		m.quote = *mf.Quote
	}
	tf, err := buildTimeFormat(mf.TimeLayout, mf.TimeZone)
	if err != nil {
		return nil, err
	}
	m.conv.time = tf
	if err := m.buildTypeValues(&mf.TypeValues); err != nil {
		return nil, err
	}
	if err := m.buildSources(mf.Fields); err != nil {
		return nil, err
	}
	return m, nil
}

func buildTimeFormat(layout, zone string) (timeFormat, error) {
	loc := time.UTC
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return timeFormat{}, fmt.Errorf("time_zone: %w", err)
		}
		loc = l
	}
	switch strings.ToLower(layout) {
	case "", "rfc3339":
		return timeFormat{kind: timeRFC3339}, nil
	case "unix":
		return timeFormat{kind: timeUnix}, nil
	case "unix_ms":
		return timeFormat{kind: timeUnixMS}, nil
	}
	// A usable layout shows at least the date, hour and minute: a reference
	// time must survive formatting and parsing back.
	ref := time.Date(2024, 11, 23, 21, 47, 0, 0, loc)
	got, err := time.ParseInLocation(layout, ref.Format(layout), loc)
	if err != nil || got.Year() != ref.Year() || got.YearDay() != ref.YearDay() ||
		got.Hour() != ref.Hour() || got.Minute() != ref.Minute() {
		return timeFormat{}, fmt.Errorf("time_layout: %q is not a Go time layout with year, month, day, hour and minute (or rfc3339, unix, unix_ms)", layout)
	}
	// Go's zone elements all contain one of these (MST, Z07:00, -0700, ...).
	zoned := strings.Contains(layout, "MST") || strings.Contains(layout, "Z07") || strings.Contains(layout, "-07")
	return timeFormat{kind: timeLayout, layout: layout, loc: loc, abbrev: strings.Contains(layout, "MST"), zoned: zoned}, nil
}

func (m *Mapping) buildTypeValues(n *yaml.Node) error {
	if n.Kind == 0 {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("type_values: line %d: want a map of vendor name to data|voice|sms", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "" {
			return fmt.Errorf("type_values: line %d: empty vendor name", k.Line)
		}
		// Walking the node skips yaml's duplicate-key check; names match
		// without regard to case, so GPRS and gprs are the same name.
		for _, tv := range m.conv.typeValues {
			if strings.EqualFold(tv.name, k.Value) {
				return fmt.Errorf("type_values: line %d: %q given twice", k.Line, k.Value)
			}
		}
		t, err := metering.ParseUsageType(v.Value)
		if err != nil || v.Kind != yaml.ScalarNode {
			return fmt.Errorf("type_values.%s: line %d: %q is not data, voice or sms", k.Value, v.Line, v.Value)
		}
		m.conv.typeValues = append(m.conv.typeValues, typeValue{name: k.Value, typ: t})
	}
	return nil
}

func (m *Mapping) buildSources(fields map[string]mappingSource) error {
	if len(fields) == 0 {
		return errors.New("fields: missing")
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names) // report errors in a stable order
	for _, name := range names {
		fs := fields[name]
		f, ok := fieldByName(name)
		if !ok || name != strings.ToLower(name) {
			return fmt.Errorf("fields.%s: unknown field (want one of %s)", name, strings.Join(fieldNames[:], ", "))
		}
		key := "fields." + name
		src, err := m.buildSource(key, f, &fs)
		if err != nil {
			return err
		}
		m.sources[f] = src
	}
	for _, f := range requiredFields {
		if !m.sources[f].set {
			return fmt.Errorf("fields.%s: required field not mapped", f)
		}
	}
	return nil
}

// MaxMappedColumn is the highest column position a mapping may name (a
// record's fields are held per record; a position of 10^18 allocated a
// slice that size).
const MaxMappedColumn = 1000

func (m *Mapping) buildSource(key string, f field, fs *mappingSource) (source, error) {
	col, val := &fs.Column, &fs.Value
	switch {
	case col.Kind != 0 && val.Kind != 0:
		return source{}, fmt.Errorf("%s: line %d: set column or value, not both", key, col.Line)
	case col.Kind == 0 && val.Kind == 0:
		return source{}, fmt.Errorf("%s: set column (name or 1-based position) or value", key)
	case val.Kind != 0:
		if val.Kind != yaml.ScalarNode {
			return source{}, fmt.Errorf("%s.value: line %d: want a scalar", key, val.Line)
		}
		if reason, detail := m.conv.set(&m.template, f, val.Value); reason != "" {
			return source{}, fmt.Errorf("%s.value: line %d: %s (%s)", key, val.Line, reason, detail)
		}
		return source{set: true, isVal: true, line: val.Line}, nil
	}
	if col.Kind != yaml.ScalarNode {
		return source{}, fmt.Errorf("%s.column: line %d: want a header name or a 1-based position", key, col.Line)
	}
	if col.Tag == "!!int" {
		pos, err := strconv.Atoi(col.Value)
		if err != nil || pos < 1 || pos > MaxMappedColumn {
			return source{}, fmt.Errorf("%s.column: line %d: position %s must be 1 to %d", key, col.Line, col.Value, MaxMappedColumn)
		}
		return source{set: true, pos: pos, line: col.Line}, nil
	}
	name := strings.TrimSpace(col.Value)
	if name == "" {
		return source{}, fmt.Errorf("%s.column: line %d: empty column name", key, col.Line)
	}
	if !m.header {
		return source{}, fmt.Errorf("%s.column: line %d: column name %q needs header: true (or use a 1-based position)", key, col.Line, name)
	}
	return source{set: true, name: name, line: col.Line}, nil
}

// NewMappedParser returns a Parser for the vendor CSV m describes. header
// is the feed's header line (Splitter.ReadHeaderLine) when m.HasHeader(),
// and nil otherwise. Split the input with m.QuoteAware(). The error wraps
// ErrInvalidHeader when a mapped column name is not in the header (or is
// in it twice) or a position lies beyond it, and ErrInvalidMapping when
// the header is missing or unexpected.
//
// Values are trimmed of surrounding spaces. With a header, records must
// have as many fields as the header; without one, at least as many as the
// highest mapped position.
func NewMappedParser(m *Mapping, header []byte, cfg ParserConfig) (Parser, error) {
	if m == nil {
		return nil, fmt.Errorf("nil mapping: %w", ErrInvalidMapping)
	}
	if m.header && header == nil {
		return nil, fmt.Errorf("mapping has header: true but no header line was given: %w", ErrInvalidMapping)
	}
	if !m.header && header != nil {
		return nil, fmt.Errorf("mapping has header: false but a header line was given: %w", ErrInvalidMapping)
	}
	p := &csvParser{
		sep: m.sep, comment: m.comment, quote: m.quote, trim: true,
		template: m.template, conv: m.conv, cfg: cfg,
	}
	var names []string
	if m.header {
		var err error
		if names, err = splitHeader(header, m.sep, m.quote); err != nil {
			return nil, err
		}
		p.minFields, p.maxFields = len(names), len(names)
	}
	for f, src := range m.sources {
		if !src.set || src.isVal {
			continue
		}
		col := src.pos - 1
		if src.name != "" {
			col = -1
			for i, n := range names {
				if !strings.EqualFold(n, src.name) {
					continue
				}
				if col >= 0 {
					return nil, fmt.Errorf("fields.%s.column: %q appears twice in the header: %w", field(f), src.name, ErrInvalidHeader)
				}
				col = i
			}
			if col < 0 {
				return nil, fmt.Errorf("fields.%s.column: %q is not in the header (%s): %w", field(f), src.name, strings.Join(names, string(m.sep)), ErrInvalidHeader)
			}
		} else if m.header && src.pos > len(names) {
			return nil, fmt.Errorf("fields.%s.column: position %d is beyond the header's %d columns: %w", field(f), src.pos, len(names), ErrInvalidHeader)
		}
		if !m.header {
			p.minFields = max(p.minFields, col+1)
		}
		p.bind = append(p.bind, binding{f: field(f), col: col})
	}
	p.initScratch()
	return p, nil
}
