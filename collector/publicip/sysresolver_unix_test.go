//go:build unix

package publicip

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSystemServers(t *testing.T) {
	tests := []struct {
		name    string
		conf    string
		want    []string
		wantErr bool
	}{
		{"one", "nameserver 192.0.2.53\n", []string{"192.0.2.53:53"}, false},
		{"first three", "search example\nnameserver 192.0.2.1\nnameserver 2001:db8::53\nnameserver 192.0.2.3\nnameserver 192.0.2.4\n",
			[]string{"192.0.2.1:53", "[2001:db8::53]:53", "192.0.2.3:53"}, false},
		{"none", "search example\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "resolv.conf")
			if err := os.WriteFile(path, []byte(tt.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := systemServers(path)
			if (err != nil) != tt.wantErr {
				t.Errorf("systemServers() error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("systemServers() mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := systemServers(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("systemServers() of a missing file succeeded")
	}
}
