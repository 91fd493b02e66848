package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/simcore/simcore/ingest/ber"
)

// ReasonBERMalformed is the reject reason of a BER CDR that could not be
// decoded; its Detail and Offset give the byte offset of the record.
const ReasonBERMalformed = "ber_malformed"

// decodeBER reads src.R as BER CDRs (a TS 32.297 file or bare records) and
// submits them in groups of recordGroupSize. A record that does not decode
// is a ber_malformed reject and decoding goes on with the next one.
//
// Rejects carry Line = the record's 1-based position in the stream and
// Offset = its byte offset. Their Raw is a JSON rendering of the decoded
// record (a decodable record rejected later, such as unknown_imsi), or for
// ber_malformed the decoder's error text: the bytes of a corrupt record are
// not delimited reliably, the offset lets an operator cut them out of the
// file.
func (p *Pipeline) decodeBER(ctx context.Context, src Source, submit func(*group) error) error {
	cr := &countingReader{r: src.R}
	dec := ber.NewDecoder(cr)
	items := make([]Item, 0, recordGroupSize)
	var n int64
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		if src.Progress != nil {
			src.Progress(cr.n)
		}
		err := p.submitItems(ctx, src, items, submit)
		items = items[:0]
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		cdr, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return flush()
		}
		n++
		var re *ber.RecordError
		switch {
		case err == nil:
			items = append(items, Item{Record: cdr.Record, Line: n, Offset: cdr.Offset})
		case errors.As(err, &re):
			items = append(items, Item{
				Line: n, Offset: re.Offset, Reason: ReasonBERMalformed,
				Detail: re.Error(), Raw: []byte(re.Error()),
			})
		case errors.Is(err, ber.ErrMalformed) || errors.Is(err, ber.ErrTruncated) || errors.Is(err, ber.ErrTooLarge):
			// The file's own framing (its TS 32.297 header) is broken:
			// nothing after it can be read. Refused whole (the spool's
			// rejected/), not retried for ever.
			return &FileError{fmt.Errorf("read %s: %w", src.Name, err)}
		default:
			return fmt.Errorf("read %s: %w", src.Name, err)
		}
		if len(items) == recordGroupSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}
