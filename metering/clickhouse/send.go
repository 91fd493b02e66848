package clickhouse

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// sendColumns inserts one block: cols holds one slice per column named in
// sql, in order.
func sendColumns(ctx context.Context, conn driver.Conn, sql string, cols []any) error {
	p, err := prepareBlock(ctx, conn, sql)
	if err != nil {
		return err
	}
	defer p.close()
	return p.send(cols)
}

// preparedBlock is an INSERT begun on the server (PrepareBatch), its data
// not sent yet.
type preparedBlock struct {
	batch driver.Batch
	done  func()
	sent  bool
}

func prepareBlock(ctx context.Context, conn driver.Conn, sql string) (*preparedBlock, error) {
	bctx, done := batchContext(ctx)
	batch, err := conn.PrepareBatch(bctx, sql)
	if err != nil {
		done()
		return nil, err
	}
	return &preparedBlock{batch: batch, done: done}, nil
}

// send appends cols (one slice per column named in the INSERT, in order)
// and sends the block.
func (p *preparedBlock) send(cols []any) error {
	p.sent = true
	columns := p.batch.Columns()
	for i, c := range cols {
		if i < len(columns) {
			reserveStrings(columns[i], c)
		}
		if err := p.batch.Column(i).Append(c); err != nil {
			_ = p.batch.Abort()
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return p.batch.Send()
}

// close aborts a block never sent (its INSERT ends without data) and
// releases its context; nil is a no-op.
func (p *preparedBlock) close() {
	if p == nil {
		return
	}
	if !p.sent {
		_ = p.batch.Abort()
	}
	p.done()
}

// batchContext returns the context for one PrepareBatch and Send: it has
// ctx's values and deadline and ends when ctx ends, but only until done is
// called.
//
// Why: the driver's Send (clickhouse-go v2.50.0) watches its context from a
// goroutine and closes the TCP connection when the context ends, and stopping
// that goroutine does not wait for it. If the context ends just after Send
// returned, the goroutine can still pick the ended context and close a
// connection that is back in the pool; the next query on it fails with "use
// of closed network connection" (clickhouse-go PR #2032). Our callers end
// their contexts right after a send: the errgroup of insertRecords always
// does, as do request-scoped callers.
func batchContext(ctx context.Context) (bctx context.Context, done func()) {
	bctx, cancel := context.WithCancelCause(keepDeadline{Context: context.WithoutCancel(ctx), of: ctx})
	stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	return bctx, func() { stop() }
}

// keepDeadline is a context that does not end (its embedded Context comes
// from context.WithoutCancel) but reports the deadline of another, so the
// driver still sets socket deadlines and max_execution_time from it.
type keepDeadline struct {
	context.Context
	of context.Context
}

func (k keepDeadline) Deadline() (time.Time, bool) { return k.of.Deadline() }

// reserveStrings gives an empty String column room for the strings in v,
// if v is a []string, so that appending them allocates nothing. The
// driver's String column (ch-go's ColStr) has no way to reserve and grows
// by doubling as values are appended: for 100,000-row blocks that was a
// ninth of the ingest command's CPU, and half of what it allocated, which
// the collector then had to keep up with. Decoding from the wire is the
// one path that sizes the column at once: asked for n rows it makes room
// for their positions first, then reads each string. So decode n rows
// from a stream holding one string of all the bytes and then ending (the
// decode fails at the second row; nothing is kept), then Reset, which
// keeps the capacity. Should a driver version decode differently, this
// only stops saving: Reset still leaves the column empty.
func reserveStrings(col column.Interface, v any) {
	strs, ok := v.([]string)
	str, isStr := col.(*column.String)
	if !ok || !isStr || len(strs) == 0 || str.Rows() != 0 {
		return
	}
	total := 0
	for _, s := range strs {
		total += len(s)
	}
	_ = str.Decode(proto.NewReader(&zeroStream{head: binary.AppendUvarint(nil, uint64(total)), zeros: total}), len(strs))
	str.Reset()
}

// zeroStream reads head, then that many zeros, then ends: in the native
// format, one string of zeros.
type zeroStream struct {
	head  []byte
	zeros int
}

func (z *zeroStream) Read(p []byte) (int, error) {
	n := copy(p, z.head)
	z.head = z.head[n:]
	m := min(len(p)-n, z.zeros)
	clear(p[n : n+m])
	z.zeros -= m
	if n+m == 0 {
		return 0, io.EOF
	}
	return n + m, nil
}
