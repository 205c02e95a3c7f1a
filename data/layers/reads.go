package layers

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Need is what a read requires of a database: the layer at a version (and,
// for tiles from generalised copies, those copies at that version).
type Need struct {
	Layer       string
	Version     int64
	Generalized bool
}

// ReadPools chooses the pool a read goes to: a replica that has replayed
// everything the read needs, else the primary. It never returns nil.
type ReadPools interface {
	For(ctx context.Context, needs []Need) *pgxpool.Pool
	// Failed tells that a read on p failed for want of a connection: a
	// replica is then skipped until it answers again, and the read is
	// retried on the primary.
	Failed(p *pgxpool.Pool)
}

// Primary is ReadPools with no replicas.
type Primary struct{ Pool *pgxpool.Pool }

// For returns the primary.
func (p Primary) For(context.Context, []Need) *pgxpool.Pool { return p.Pool }

// Failed does nothing: there is nowhere else to go.
func (p Primary) Failed(*pgxpool.Pool) {}

// Unreachable reports an error that means the database did not answer
// (as opposed to a query that failed): a read may then go elsewhere.
func Unreachable(err error) bool {
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &ce), pgconn.SafeToRetry(err):
		return true
	case errors.As(err, &pe):
		// admin_shutdown, crash_shutdown, cannot_connect_now, too many connections
		return pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
