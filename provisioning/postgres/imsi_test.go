package postgres_test

import (
	"errors"
	"testing"

	"github.com/simcore/simcore/provisioning"
)

func TestICCIDByIMSI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sim := e.sim(t)
	tests := []struct {
		name    string
		imsi    string
		want    string
		wantErr error
	}{
		{name: "known", imsi: sim.IMSI, want: sim.ICCID},
		{name: "unknown", imsi: newIMSI(), wantErr: provisioning.ErrSIMNotFound},
		{name: "empty", imsi: "", wantErr: provisioning.ErrSIMNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.store.ICCIDByIMSI(e.ctx, tt.imsi)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("ICCIDByIMSI(%q) = %q, %v; want %q, %v", tt.imsi, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
