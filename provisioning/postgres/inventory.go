package postgres

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/provisioning"
)

// importBatch is how many SIMs one INSERT carries: large enough that a
// million-card file takes a few hundred round trips, small enough that a
// statement's arrays stay a few hundred kilobytes.
const importBatch = 5000

// importTries bounds the runs of an import's transaction that PostgreSQL
// aborts to break a deadlock with a concurrent import.
const importTries = 5

// RowError is an import row that was not stored, and why.
type RowError struct {
	// Row is the 1-based position of the row in the slice given to
	// ImportSIMs (a reader of a file with a header line adds one to get the
	// line number).
	Row    int    `json:"row"`
	Field  string `json:"field"` // iccid, imsi or activation_code
	Reason string `json:"reason"`
	// DuplicateOf is the 1-based row this one repeats (the Reason says
	// "duplicate of row N"), 0 for other rejects.
	DuplicateOf int `json:"duplicate_of,omitempty"`
}

// ImportResult is what an import stored, what it found already there, and
// what it rejected: every row is counted in exactly one of them.
type ImportResult struct {
	Imported int `json:"imported"`
	// Unchanged counts rows the inventory already holds as they are (the
	// same ICCID, IMSI and activation code), so importing a file again, or
	// after an import cut short, is not an error.
	Unchanged int        `json:"unchanged"`
	Rejected  []RowError `json:"rejected,omitempty"` // by row
}

// ImportSIMs adds cards to the inventory, in stock, with their activation
// codes hashed by h. Rows that fail Validate, repeat an ICCID or IMSI of an
// earlier row, or clash with a card already in the inventory (its ICCID
// with another IMSI or activation code, or its IMSI on another ICCID) are
// reported in Rejected; rows the inventory already holds as they are count
// as Unchanged; the other rows are stored. The valid rows are
// stored in one transaction, so an error stores none of them. A nil h is
// provisioning.ErrNoActivationKey.
func (s *Store) ImportSIMs(ctx context.Context, rows []provisioning.SIMImportRow, h *provisioning.ActivationHasher) (ImportResult, error) {
	if h == nil {
		return ImportResult{}, provisioning.ErrNoActivationKey
	}
	var res ImportResult
	reject := func(i int, field, reason string) {
		res.Rejected = append(res.Rejected, RowError{Row: i + 1, Field: field, Reason: reason})
	}
	iccidRow := make(map[string]int, len(rows))
	imsiRow := make(map[string]int, len(rows))
	valid := make([]int, 0, len(rows))
	for i, r := range rows {
		if err := r.Validate(); err != nil {
			var ie *provisioning.InputError
			if errors.As(err, &ie) {
				reject(i, ie.Field, ie.Reason)
			} else {
				reject(i, "row", err.Error())
			}
			continue
		}
		if first, ok := iccidRow[r.ICCID]; ok {
			reject(i, "iccid", fmt.Sprintf("duplicate of row %d", first+1))
			res.Rejected[len(res.Rejected)-1].DuplicateOf = first + 1
			continue
		}
		if first, ok := imsiRow[r.IMSI]; ok {
			reject(i, "imsi", fmt.Sprintf("duplicate of row %d", first+1))
			res.Rejected[len(res.Rejected)-1].DuplicateOf = first + 1
			continue
		}
		iccidRow[r.ICCID], imsiRow[r.IMSI] = i, i
		valid = append(valid, i)
	}

	// In ICCID order: two imports of overlapping files then take their
	// row locks in the same order and wait for each other instead of
	// deadlocking. Cards whose IMSIs clash across the two can still
	// deadlock; PostgreSQL aborts one, and it is run again.
	slices.SortFunc(valid, func(a, b int) int { return cmp.Compare(rows[a].ICCID, rows[b].ICCID) })
	checked := len(res.Rejected)
	var err error
	for try := 1; ; try++ {
		res.Imported, res.Unchanged, res.Rejected = 0, 0, res.Rejected[:checked]
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			for batch := range slices.Chunk(valid, importBatch) {
				n, same, err := insertSIMs(ctx, tx, rows, batch, h, reject)
				if err != nil {
					return err
				}
				res.Imported += n
				res.Unchanged += same
			}
			return nil
		})
		if !isDeadlock(err) || try == importTries {
			break
		}
	}
	if err != nil {
		return ImportResult{}, fmt.Errorf("import sims: %w", err)
	}
	slices.SortFunc(res.Rejected, func(a, b RowError) int { return cmp.Compare(a.Row, b.Row) })
	return res, nil
}

// insertSIMs stores rows[batch], and returns how many it stored and how
// many the inventory already held as they are; it rejects the rows that
// clash with a card already in the inventory.
func insertSIMs(ctx context.Context, tx pgx.Tx, rows []provisioning.SIMImportRow, batch []int, h *provisioning.ActivationHasher, reject func(i int, field, reason string)) (stored, unchanged int, err error) {
	iccids := make([]string, len(batch))
	imsis := make([]string, len(batch))
	hashes := make([][]byte, len(batch))
	for j, i := range batch {
		r := rows[i]
		iccids[j], imsis[j], hashes[j] = r.ICCID, r.IMSI, h.Hash(r.ICCID, r.ActivationCode)
	}
	// ON CONFLICT without a target skips rows that clash on the ICCID or the
	// IMSI, including with a concurrent import (after it commits).
	q, err := tx.Query(ctx, `
		INSERT INTO sims (iccid, imsi, activation_hash)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
		ON CONFLICT DO NOTHING
		RETURNING iccid`, iccids, imsis, hashes)
	if err != nil {
		return 0, 0, fmt.Errorf("insert sims: %w", err)
	}
	inserted, err := pgx.CollectRows(q, pgx.RowTo[string])
	if err != nil {
		return 0, 0, fmt.Errorf("insert sims: %w", err)
	}
	if len(inserted) == len(batch) {
		return len(inserted), 0, nil
	}

	isNew := make(map[string]bool, len(inserted))
	for _, c := range inserted {
		isNew[c] = true
	}
	var missICCID, missIMSI []string
	for _, i := range batch {
		if !isNew[rows[i].ICCID] {
			missICCID = append(missICCID, rows[i].ICCID)
			missIMSI = append(missIMSI, rows[i].IMSI)
		}
	}
	q, err = tx.Query(ctx, `SELECT iccid, imsi, activation_hash FROM sims WHERE iccid = ANY($1) OR imsi = ANY($2)`, missICCID, missIMSI)
	if err != nil {
		return 0, 0, fmt.Errorf("find sims already in inventory: %w", err)
	}
	type card struct {
		imsi string
		hash []byte
	}
	byICCID, iccidOf := map[string]card{}, map[string]string{}
	var (
		iccid, imsi string
		hash        []byte
	)
	if _, err := pgx.ForEachRow(q, []any{&iccid, &imsi, &hash}, func() error {
		byICCID[iccid], iccidOf[imsi] = card{imsi, slices.Clone(hash)}, iccid
		return nil
	}); err != nil {
		return 0, 0, fmt.Errorf("find sims already in inventory: %w", err)
	}
	for j, i := range batch {
		r := rows[i]
		if isNew[r.ICCID] {
			continue
		}
		have, ok := byICCID[r.ICCID]
		switch {
		case ok && have.imsi != r.IMSI:
			reject(i, "iccid", fmt.Sprintf("already in inventory with IMSI %s", have.imsi))
		case ok && !bytes.Equal(have.hash, hashes[j]):
			reject(i, "activation_code", "already in inventory with another activation code")
		case ok:
			unchanged++
		default:
			reject(i, "imsi", fmt.Sprintf("already in inventory on ICCID %s", iccidOf[r.IMSI]))
		}
	}
	return len(inserted), unchanged, nil
}

// SIM returns the inventory SIM iccid; provisioning.ErrSIMNotFound.
func (s *Store) SIM(ctx context.Context, iccid string) (provisioning.SIM, error) {
	var m provisioning.SIM
	err := s.pool.QueryRow(ctx, `SELECT iccid, imsi, state, coalesce(reserved_by::text, '') FROM sims WHERE iccid = $1`, iccid).
		Scan(&m.ICCID, &m.IMSI, &m.State, &m.ReservedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return provisioning.SIM{}, fmt.Errorf("sim %s: %w", iccid, provisioning.ErrSIMNotFound)
	}
	if err != nil {
		return provisioning.SIM{}, fmt.Errorf("sim %s: %w", iccid, err)
	}
	return m, nil
}

// VerifyActivationCode reports whether code is the activation code printed
// on the card iccid, whatever the card's state. It returns
// provisioning.ErrSIMNotFound for a card not in the inventory and
// provisioning.ErrNoActivationKey for a nil h.
func (s *Store) VerifyActivationCode(ctx context.Context, iccid, code string, h *provisioning.ActivationHasher) (bool, error) {
	if h == nil {
		return false, provisioning.ErrNoActivationKey
	}
	var stored []byte
	err := s.pool.QueryRow(ctx, `SELECT activation_hash FROM sims WHERE iccid = $1`, iccid).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("verify activation code of sim %s: %w", iccid, provisioning.ErrSIMNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("verify activation code of sim %s: %w", iccid, err)
	}
	return h.Verify(iccid, code, stored), nil
}
