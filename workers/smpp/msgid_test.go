package smpp

import "testing"

func TestNormalizeMessageID(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"00BBA622", "bba622"},
		{"bba622", "bba622"},
		{" 0059113978\x00", "59113978"},
		{"000", "0"},
		{"", ""},
		{"74E02EE1-4E2F", "74e02ee1-4e2f"},
	}
	for _, tt := range tests {
		if got := NormalizeMessageID(tt.in); got != tt.want {
			t.Errorf("NormalizeMessageID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTrackerResolve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		submitted []string
		tlvID     string
		textID    string
		want      string
		ok        bool
	}{
		{"same form", []string{"1732201058"}, "", "1732201058", "1732201058", true},
		{"hex answered, decimal receipted", []string{"673F4A62"}, "", "1732201058", "673F4A62", true},
		{"decimal answered, hex receipted", []string{"1732201058"}, "", "673f4a62", "1732201058", true},
		{"captured: TLV hex, text decimal", []string{"38601FA"}, "38601fa", "0059113978", "38601FA", true},
		{"captured: TLV without leading zeros", []string{"0000003005"}, "3005", "0000003005", "0000003005", true},
		{"case and zeros", []string{"00BBA622"}, "", "bba622", "00BBA622", true},
		{"TLV preferred over text", []string{"A1", "161"}, "A1", "161", "A1", true},
		{"uuid", []string{"74e02ee1-4e2f-4a6e-a78b-4b247d756a22"}, "", "74E02EE1-4E2F-4A6E-A78B-4B247D756A22", "74e02ee1-4e2f-4a6e-a78b-4b247d756a22", true},
		{"unknown keeps the TLV form", []string{"1"}, "00ff", "255", "00ff", false},
		{"unknown keeps the text form", nil, "", "0042", "0042", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := newTracker(8)
			for _, id := range tt.submitted {
				tr.add(id)
			}
			got, ok := tr.resolve(tt.tlvID, tt.textID, false)
			if got != tt.want || ok != tt.ok {
				t.Errorf("resolve(%q, %q) = %q %v, want %q %v", tt.tlvID, tt.textID, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestTrackerForgets(t *testing.T) {
	t.Parallel()
	tr := newTracker(2)
	tr.add("1")
	tr.add("2")
	tr.add("3") // evicts "1"
	if _, ok := tr.resolve("", "1", false); ok {
		t.Error("oldest id still tracked past capacity")
	}
	if _, ok := tr.resolve("", "2", true); !ok {
		t.Error("id 2 not tracked")
	}
	if _, ok := tr.resolve("", "2", false); ok {
		t.Error("id 2 tracked after its final receipt")
	}
	if _, ok := tr.resolve("", "3", false); !ok {
		t.Error("id 3 not tracked")
	}
}
