package metering

import (
	"context"
	"errors"
	"time"
)

// Reject is a record that could not be parsed or validated, kept with its raw
// text so nothing is lost: an operator can see why and replay it.
type Reject struct {
	Source string // where it came from: a file name, "http", "spool:NAME"
	Format string // csv, ndjson, mapped
	Line   int64  // 1-based line in the source
	Offset int64  // byte offset in the source
	Reason string // stable snake_case code
	Detail string // human-readable detail
	Raw    []byte
}

// Batch is one unit of writing: records and rejects that are stored together
// before their sources are acknowledged.
type Batch struct {
	Records []Record
	Sources []string // Sources[i] names where Records[i] came from
	Rejects []Reject
}

// Len is the number of records and rejects in b.
func (b *Batch) Len() int { return len(b.Records) + len(b.Rejects) }

// Reset empties b, keeping its capacity.
func (b *Batch) Reset() {
	clear(b.Records)
	clear(b.Rejects)
	b.Records = b.Records[:0]
	b.Sources = b.Sources[:0]
	b.Rejects = b.Rejects[:0]
}

// WriteResult says what became of a batch's records.
type WriteResult struct {
	// Stored[i] is true when Records[i] was stored now, false when a record
	// with its identity was already stored (or came earlier in the batch).
	Stored []bool
}

// ErrLedger marks a failure of the writers' ledger (the cross-process lease).
var ErrLedger = errors.New("usage ledger")

// ErrLedgerPruned means that batches after the one asked about have been
// pruned from the ledger: the caller cannot learn from it what they stored.
var ErrLedgerPruned = errors.New("usage ledger pruned past the batch asked about")

// Ledger coordinates writers of usage records across processes so that two
// writers never store the same record: one writer at a time holds the lease,
// and each learns from the ledger which batches the others wrote.
type Ledger interface {
	// Acquire blocks until the caller holds the write lease or ctx ends.
	Acquire(ctx context.Context) (Lease, error)
}

// Lease is the held write lease. Its methods run under the lease.
type Lease interface {
	// MaxSeq is the highest batch sequence number begun so far (0 if none).
	MaxSeq(ctx context.Context) (uint64, error)
	// Since lists the batches begun after seq, oldest first. It fails
	// with ErrLedgerPruned when some of them are no longer in the ledger.
	Since(ctx context.Context, seq uint64) ([]LedgerBatch, error)
	// Writing lists the batches still marked writing (begun, neither
	// committed nor aborted), oldest first: their writers died or lost
	// the lease before learning what landed.
	Writing(ctx context.Context) ([]LedgerBatch, error)
	// Begin records that writer is about to store rows records of iccids
	// into months (YYYYMM) and returns the batch's sequence number. The
	// ICCIDs tell rating whose usage changed.
	Begin(ctx context.Context, writer string, months []uint32, iccids []string, rows int) (uint64, error)
	// Commit marks batch seq stored.
	Commit(ctx context.Context, seq uint64) error
	// Abort marks batch seq as not (or only partly) stored.
	Abort(ctx context.Context, seq uint64) error
	// Prune deletes batches begun before cutoff, oldest first and at most
	// about limit of them, but none after the seq a registered reader
	// holds. Writers that last saw a pruned batch get ErrLedgerPruned.
	Prune(ctx context.Context, cutoff time.Time, limit int) (Pruned, error)
	// Held checks that the lease is still held (its holder's session has
	// not ended); an error means another writer may have it.
	Held(ctx context.Context) error
	// Release gives the lease back. It is safe to call once after any error.
	Release(ctx context.Context) error
}

// Pruned is what one Prune did.
type Pruned struct {
	Deleted int    // batches deleted
	Through uint64 // every batch up to this seq is gone
	// More is true when batches older than the cutoff remain that no
	// reader holds back: a later call continues.
	More bool
	// HeldBy names a reader that held back batches older than the cutoff,
	// and HeldAt the seq it holds ("" and 0 when none did).
	HeldBy string
	HeldAt uint64
}

// LedgerBatch is one batch as the ledger knows it.
type LedgerBatch struct {
	Seq    uint64
	Writer string
	Months []uint32
	State  string // writing, committed, aborted
}
