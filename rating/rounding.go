package rating

import (
	"fmt"

	"github.com/simcore/simcore/metering"
)

// Voice rounding rules.
const (
	VoicePerSecond                 = "per_second"
	VoicePerMinute                 = "per_minute"                    // every started minute
	VoicePerSecondAfterFirstMinute = "per_second_after_first_minute" // 60 s minimum, then per second
)

// Rounding says how one record's quantity is rounded before it is rated.
// It applies to each record (each CDR, each partial record), as a network
// charges each one, and never to a sum.
type Rounding struct {
	// DataBlock is a size ("1KB", "100KB"): every started block of a
	// record's uplink+downlink bytes is counted in full. "" counts bytes.
	DataBlock string `yaml:"data_block" json:"data_block,omitempty"`
	// Voice is per_second, per_minute or per_second_after_first_minute;
	// "" is per_second.
	Voice string `yaml:"voice" json:"voice,omitempty"`

	block uint64
}

func (r *Rounding) validate() error {
	r.block = 1
	if r.DataBlock != "" {
		n, err := ParseSize(r.DataBlock)
		if err != nil {
			return fmt.Errorf("data_block: %v", err)
		}
		if n == 0 || n > 1<<30 {
			return fmt.Errorf("data_block: %s is not between 1 byte and 1 GiB", r.DataBlock)
		}
		r.block = n
	}
	switch r.Voice {
	case "":
		r.Voice = VoicePerSecond
	case VoicePerSecond, VoicePerMinute, VoicePerSecondAfterFirstMinute:
	default:
		return fmt.Errorf("voice: %q: want per_second, per_minute or per_second_after_first_minute", r.Voice)
	}
	return nil
}

// Block is the data rounding block in bytes (1 when bytes are counted).
func (r Rounding) Block() uint64 {
	if r.block == 0 {
		return 1
	}
	return r.block
}

// Quantity is what one record counts for in rating: rounded bytes for
// data, rounded seconds for voice, one for an SMS. A record of zero bytes
// or zero seconds (an unanswered call) counts zero.
func (r Rounding) Quantity(t metering.UsageType, bytes uint64, seconds uint32) uint64 {
	switch t {
	case metering.TypeData:
		b := r.Block()
		return (bytes + b - 1) / b * b
	case metering.TypeVoice:
		s := uint64(seconds)
		switch r.Voice {
		case VoicePerMinute:
			return (s + 59) / 60 * 60
		case VoicePerSecondAfterFirstMinute:
			if s > 0 && s < 60 {
				return 60
			}
		}
		return s
	case metering.TypeSMS:
		return 1
	}
	return 0
}
