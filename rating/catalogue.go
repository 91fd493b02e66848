package rating

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrCatalogue is wrapped by every catalogue validation error.
var ErrCatalogue = errors.New("invalid catalogue")

// Catalogue is the whole tariff: zones of networks, price lists per zone,
// and plans. It is data, loaded with `simcore plans import`, and versioned:
// every import is a new version, and charges name the version that rated
// them.
type Catalogue struct {
	Zones []Zone `yaml:"zones" json:"zones"`
	// DefaultZone takes networks that are in no zone; "" means such
	// networks are not allowed (their usage is stored and flagged, not
	// charged).
	DefaultZone string      `yaml:"default_zone" json:"default_zone,omitempty"`
	PriceLists  []PriceList `yaml:"price_lists" json:"price_lists"`
	Plans       []Plan      `yaml:"plans" json:"plans"`

	zoneOf map[string]string // MCC-MNC → zone name
}

// Zone is a set of serving networks priced alike.
type Zone struct {
	Name     string   `yaml:"name" json:"name"`
	Networks []string `yaml:"networks" json:"networks"` // MCC-MNC, 5 or 6 digits
}

// PriceList gives, per zone, the price of usage beyond a plan's allowance
// (or of all usage on a pay-as-you-go plan). A zone missing from the list
// is not allowed on plans that use it.
type PriceList struct {
	Name     string           `yaml:"name" json:"name"`
	Currency string           `yaml:"currency" json:"currency"`
	Rates    map[string]Rates `yaml:"rates" json:"rates"` // zone → rates
}

// Rates are one zone's unit prices, as decimals in the list's currency.
type Rates struct {
	DataPerMB      string `yaml:"data_per_mb" json:"data_per_mb"`           // per 1,000,000 bytes
	VoicePerMinute string `yaml:"voice_per_minute" json:"voice_per_minute"` // per 60 rated seconds
	SMS            string `yaml:"sms" json:"sms"`                           // per message

	data, voice, sms Rate
}

// Plan is what a subscription buys: its billing period, allowances, prices
// and rules. Name matches the provisioning plan (which holds the APN).
type Plan struct {
	Name        string `yaml:"name" json:"name"`
	APN         string `yaml:"apn" json:"apn"`
	APNUsername string `yaml:"apn_username" json:"apn_username,omitempty"`
	APNPassword string `yaml:"apn_password" json:"apn_password,omitempty"`
	// Period is "month" (calendar months, UTC) or a validity in days from
	// the subscription's start, like "30d" (travel SIMs); periods repeat.
	Period    string `yaml:"period" json:"period"`
	PriceList string `yaml:"price_list" json:"price_list"`
	// Allowances included in every period; zero means none.
	Allowances Allowances `yaml:"allowances" json:"allowances"`
	// AllowanceZones are the zones whose usage the allowances cover, in
	// the order they draw on them.
	AllowanceZones []string `yaml:"allowance_zones" json:"allowance_zones,omitempty"`
	Rounding       Rounding `yaml:"rounding" json:"rounding"`
	Alerts         Alerts   `yaml:"alerts" json:"alerts"`
	// BarData says when mobile data is barred: "never",
	// "balance_exhausted" (balance at or below zero) or
	// "data_allowance_exhausted".
	BarData string `yaml:"bar_data" json:"bar_data"`
	// BarOutgoing says when outgoing calls and SMS are barred (emergency
	// calls stay allowed, incoming calls and SMS keep working): "never" or
	// "balance_exhausted" (balance at or below zero). Stored only when
	// not never (Plan.MarshalJSON).
	BarOutgoing string `yaml:"bar_outgoing" json:"bar_outgoing,omitempty"`

	periodDays int
	priceList  *PriceList
}

// MarshalJSON leaves bar_outgoing out when it is never, its default. A
// simcore from before outgoing barring refuses a field it does not know:
// in a rolling upgrade its raters load the catalogue a newer `plans
// import` stored, and would rate nothing. A plan that does bar outgoing
// calls keeps the field, and such a catalogue is refused by them.
func (p Plan) MarshalJSON() ([]byte, error) {
	type plan Plan // without this method
	q := plan(p)
	if q.BarOutgoing == BarNever {
		q.BarOutgoing = ""
	}
	return json.Marshal(q)
}

// Allowances are the quantities a plan includes per period.
type Allowances struct {
	Data         string `yaml:"data" json:"data,omitempty"` // a size: "10GB", "500MiB"
	VoiceMinutes uint64 `yaml:"voice_minutes" json:"voice_minutes,omitempty"`
	SMS          uint64 `yaml:"sms" json:"sms,omitempty"`

	dataBytes uint64
}

// Alerts are the thresholds that message the subscriber, each at most once
// per period.
type Alerts struct {
	// AllowancePercent fire when that share of an allowance is used.
	AllowancePercent []int `yaml:"allowance_percent" json:"allowance_percent,omitempty"`
	// BalanceBelow fires when the balance falls under this amount.
	BalanceBelow string `yaml:"balance_below" json:"balance_below,omitempty"`
	// BalanceExhausted fires when the balance reaches zero or less.
	BalanceExhausted bool `yaml:"balance_exhausted" json:"balance_exhausted,omitempty"`

	balanceBelow *Money
}

// Barring rules: bar_data takes all three, bar_outgoing never and
// balance_exhausted.
const (
	BarNever                  = "never"
	BarBalanceExhausted       = "balance_exhausted"
	BarDataAllowanceExhausted = "data_allowance_exhausted"
)

// Bounds a catalogue's numbers must keep, so that quantities, charges and
// the sums of them stay far inside 64 bits.
const (
	// MaxRate is 10,000 major units per unit (MB, minute, SMS).
	MaxRate Rate = 10_000 * 1_000_000
	// MaxDataAllowance is 1 PiB per period.
	MaxDataAllowance = 1 << 50
	// MaxCountAllowance bounds voice minutes and SMS per period.
	MaxCountAllowance = 1_000_000_000
)

// ParseCatalogue reads a catalogue from YAML or JSON and validates it.
// Unknown fields are errors, so a misspelt key is not silently ignored.
func ParseCatalogue(r io.Reader) (*Catalogue, error) {
	c, err := decodeCatalogue(r)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadCatalogue reads a catalogue stored by ImportCatalogue, possibly by an
// earlier simcore. Catalogues imported before the bounds on allowances
// existed may give more (2^62 bytes was a way to say unlimited); refusing
// such a stored version would stop all rating after an upgrade until a
// new catalogue is imported. Allowances over the bounds are read as the
// bounds, which no period's usage reaches either. Everything else is
// validated as at import.
func LoadCatalogue(r io.Reader) (*Catalogue, error) {
	c, err := decodeCatalogue(r)
	if err != nil {
		return nil, err
	}
	for i := range c.Plans {
		a := &c.Plans[i].Allowances
		if n, err := ParseSize(a.Data); a.Data != "" && err == nil && n > MaxDataAllowance {
			a.Data = strconv.FormatUint(MaxDataAllowance, 10)
		}
		a.VoiceMinutes = min(a.VoiceMinutes, MaxCountAllowance)
		a.SMS = min(a.SMS, MaxCountAllowance)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeCatalogue reads one YAML (or JSON) document into a catalogue,
// unknown fields refused, without validating it.
func decodeCatalogue(r io.Reader) (*Catalogue, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Catalogue
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file is empty", ErrCatalogue)
		}
		return nil, fmt.Errorf("%w: %v", ErrCatalogue, err)
	}
	// One document: a second one (after ---) would be ignored, errors and
	// all, though the whole file is meant to be validated.
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one YAML document (---); a catalogue is one", ErrCatalogue)
	}
	return &c, nil
}

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9 _.+-]{0,62}[A-Za-z0-9_.+-])?$`)
	mccMNCRE  = regexp.MustCompile(`^[0-9]{5,6}$`)
	periodRE  = regexp.MustCompile(`^([1-9][0-9]{0,3})d$`)
	sizeRE    = regexp.MustCompile(`^([0-9]+)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$`)
	sizeUnits = map[string]uint64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
)

// ParseSize reads a data size: a number of bytes with an optional unit (KB,
// MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB powers of 1024).
func ParseSize(s string) (uint64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size (like 10GB, 100KB, 512MiB)", s)
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	unit := sizeUnits[m[2]]
	if err != nil || n > (1<<63)/unit {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * unit, nil
}

// Validate checks c and prepares it for rating. Errors wrap ErrCatalogue
// and name the field: `plans[1] (travel): price_list "x" is not defined`.
func (c *Catalogue) Validate() error {
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrCatalogue, path, fmt.Sprintf(format, a...)))
	}
	c.zoneOf = map[string]string{}
	zones := map[string]bool{}
	for i, z := range c.Zones {
		path := fmt.Sprintf("zones[%d]", i)
		if !nameRE.MatchString(z.Name) {
			bad(path+".name", "%q is not a name (letters, digits, spaces, _ . + -; at most 64)", z.Name)
			continue
		}
		path += " (" + z.Name + ")"
		if zones[z.Name] {
			bad(path, "zone defined twice")
		}
		zones[z.Name] = true
		for j, n := range z.Networks {
			if !mccMNCRE.MatchString(n) {
				bad(fmt.Sprintf("%s.networks[%d]", path, j), "%q is not an MCC-MNC (5 or 6 digits)", n)
				continue
			}
			if other, dup := c.zoneOf[n]; dup {
				bad(fmt.Sprintf("%s.networks[%d]", path, j), "network %s is already in zone %s", n, other)
				continue
			}
			c.zoneOf[n] = z.Name
		}
	}
	if len(c.Zones) == 0 {
		bad("zones", "at least one zone is needed")
	}
	if c.DefaultZone != "" && !zones[c.DefaultZone] {
		bad("default_zone", "zone %q is not defined", c.DefaultZone)
	}
	lists := map[string]*PriceList{}
	for i := range c.PriceLists {
		pl := &c.PriceLists[i]
		path := fmt.Sprintf("price_lists[%d]", i)
		if !nameRE.MatchString(pl.Name) {
			bad(path+".name", "%q is not a name", pl.Name)
			continue
		}
		path += " (" + pl.Name + ")"
		if lists[pl.Name] != nil {
			bad(path, "price list defined twice")
		}
		lists[pl.Name] = pl
		if _, ok := currencyExponents[pl.Currency]; !ok {
			bad(path+".currency", "%q is not a known ISO 4217 currency", pl.Currency)
		}
		for _, zone := range slices.Sorted(maps.Keys(pl.Rates)) {
			r := pl.Rates[zone]
			zpath := path + ".rates." + zone
			if !zones[zone] {
				bad(zpath, "zone %q is not defined", zone)
			}
			var err error
			if r.data, err = ParseRate(r.DataPerMB); err != nil {
				bad(zpath+".data_per_mb", "%v", err)
			}
			if r.voice, err = ParseRate(r.VoicePerMinute); err != nil {
				bad(zpath+".voice_per_minute", "%v", err)
			}
			if r.sms, err = ParseRate(r.SMS); err != nil {
				bad(zpath+".sms", "%v", err)
			}
			for _, f := range []struct {
				what string
				v    Rate
			}{{"data_per_mb", r.data}, {"voice_per_minute", r.voice}, {"sms", r.sms}} {
				if f.v > MaxRate {
					bad(zpath+"."+f.what, "%s is over %s: not a tariff (charges past int64 would saturate and totals wrap)", f.v, MaxRate)
				}
			}
			pl.Rates[zone] = r
		}
	}
	plans := map[string]bool{}
	for i := range c.Plans {
		p := &c.Plans[i]
		path := fmt.Sprintf("plans[%d]", i)
		if !nameRE.MatchString(p.Name) {
			bad(path+".name", "%q is not a name", p.Name)
			continue
		}
		path += " (" + p.Name + ")"
		if plans[p.Name] {
			bad(path, "plan defined twice")
		}
		plans[p.Name] = true
		if p.APN == "" {
			bad(path+".apn", "required")
		}
		switch m := periodRE.FindStringSubmatch(p.Period); {
		case p.Period == "month":
			p.periodDays = 0
		case m != nil:
			p.periodDays, _ = strconv.Atoi(m[1])
		default:
			bad(path+".period", `%q: want "month" or a validity in days like "30d"`, p.Period)
		}
		p.priceList = lists[p.PriceList]
		if p.priceList == nil {
			bad(path+".price_list", "price list %q is not defined", p.PriceList)
		}
		if p.Allowances.Data != "" {
			n, err := ParseSize(p.Allowances.Data)
			if err != nil {
				bad(path+".allowances.data", "%v", err)
			}
			p.Allowances.dataBytes = n
		}
		if p.Allowances.dataBytes > MaxDataAllowance {
			bad(path+".allowances.data", "over %d bytes (1 PiB); for unlimited data give no allowance and a zero rate", uint64(MaxDataAllowance))
		}
		if p.Allowances.VoiceMinutes > MaxCountAllowance {
			bad(path+".allowances.voice_minutes", "over %d", MaxCountAllowance)
		}
		if p.Allowances.SMS > MaxCountAllowance {
			bad(path+".allowances.sms", "over %d", MaxCountAllowance)
		}
		hasAllowance := p.Allowances.dataBytes > 0 || p.Allowances.VoiceMinutes > 0 || p.Allowances.SMS > 0
		if hasAllowance && len(p.AllowanceZones) == 0 {
			bad(path+".allowance_zones", "a plan with allowances must say which zones they cover")
		}
		seen := map[string]bool{}
		for j, z := range p.AllowanceZones {
			if !zones[z] {
				bad(fmt.Sprintf("%s.allowance_zones[%d]", path, j), "zone %q is not defined", z)
			}
			if seen[z] {
				bad(fmt.Sprintf("%s.allowance_zones[%d]", path, j), "zone %q listed twice", z)
			}
			seen[z] = true
			if p.priceList != nil && hasAllowance {
				if _, ok := p.priceList.Rates[z]; !ok {
					bad(fmt.Sprintf("%s.allowance_zones[%d]", path, j), "price list %q has no rates for zone %q, so usage beyond the allowance there could not be charged", p.PriceList, z)
				}
			}
		}
		if err := p.Rounding.validate(); err != nil {
			bad(path+".rounding", "%v", err)
		}
		for j, pc := range p.Alerts.AllowancePercent {
			if pc < 1 || pc > 100 {
				bad(fmt.Sprintf("%s.alerts.allowance_percent[%d]", path, j), "%d is not a percentage from 1 to 100", pc)
			}
		}
		if p.Alerts.BalanceBelow != "" && p.priceList != nil {
			m, err := ParseMoney(p.Alerts.BalanceBelow, p.priceList.Currency)
			if err != nil {
				bad(path+".alerts.balance_below", "%v", err)
			} else if m.Minor <= 0 {
				bad(path+".alerts.balance_below", "must be above zero (use balance_exhausted for zero)")
			}
			p.Alerts.balanceBelow = &m
		}
		switch p.BarData {
		case "":
			p.BarData = BarNever
		case BarNever, BarBalanceExhausted:
		case BarDataAllowanceExhausted:
			if p.Allowances.dataBytes == 0 {
				bad(path+".bar_data", "the plan has no data allowance to exhaust")
			}
		default:
			bad(path+".bar_data", "%q: want never, balance_exhausted or data_allowance_exhausted", p.BarData)
		}
		switch p.BarOutgoing {
		case "":
			p.BarOutgoing = BarNever
		case BarNever, BarBalanceExhausted:
		default:
			bad(path+".bar_outgoing", "%q: want never or balance_exhausted", p.BarOutgoing)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// Plan returns the plan named name.
func (c *Catalogue) Plan(name string) (*Plan, bool) {
	for i := range c.Plans {
		if c.Plans[i].Name == name {
			return &c.Plans[i], true
		}
	}
	return nil, false
}

// ZoneOf returns the zone of a serving network (MCC-MNC), the default zone
// for a network in none, or "" when the network is not allowed.
func (c *Catalogue) ZoneOf(mccMNC string) string {
	if z, ok := c.zoneOf[mccMNC]; ok {
		return z
	}
	return c.DefaultZone
}

// Currency is the currency the plan charges in.
func (p *Plan) Currency() string { return p.priceList.Currency }

// DataAllowance is the data the plan includes per period, in bytes.
func (p *Plan) DataAllowance() uint64 { return p.Allowances.dataBytes }
