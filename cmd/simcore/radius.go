package main

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/simcore/simcore/ingest"
	iradius "github.com/simcore/simcore/ingest/radius"
)

var _ iradius.Sink = (*ingest.RecordSink)(nil)

// radiusFlags configure the RADIUS accounting receiver.
type radiusFlags struct {
	addr       string
	secretFile string
}

func (c *cmdEnv) radiusFlags(rf *radiusFlags, defAddr string) {
	c.str(&rf.addr, "radius-addr", "SIMCORE_RADIUS_ADDR", defAddr, "UDP listen address for RADIUS accounting (needs a secret)")
	c.str(&rf.secretFile, "radius-secret-file", "SIMCORE_RADIUS_SECRET_FILE", "", "file holding the RADIUS shared secret (default: $SIMCORE_RADIUS_SECRET)")
}

// radiusSecret returns the shared secret from --radius-secret-file or
// SIMCORE_RADIUS_SECRET, or nil when neither is set. The secret is never
// logged.
func (c *cmdEnv) radiusSecret(rf *radiusFlags) ([]byte, error) {
	if rf.secretFile != "" {
		b, err := os.ReadFile(rf.secretFile)
		if err != nil {
			return nil, fmt.Errorf("radius secret: %w", err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, usagef("radius secret file %s is empty", rf.secretFile)
		}
		return b, nil
	}
	if s := c.getenv("SIMCORE_RADIUS_SECRET"); s != "" {
		return []byte(s), nil
	}
	return nil, nil
}

// serveRADIUS runs s until ctx ends.
func serveRADIUS(s *iradius.Server) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := s.Start(ctx); err != nil {
			return err
		}
		<-ctx.Done()
		return s.Close()
	}
}
