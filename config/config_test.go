package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadAgentGood(t *testing.T) {
	got, err := LoadAgent("testdata/agent.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultAgent()
	want.AgentID = "vps-1"
	want.Stores = []string{"shop-a", "shop-b"}
	want.Schedule = "*/10 * * * *"
	want.Collectors = []string{"publicip", "device"}
	want.PublicIP.Timeout = 1500 * time.Millisecond
	want.PublicIP.Providers = []Provider{{Name: "local", Kind: "dns", Server: "127.0.0.1:5353", Query: "myip.example.", Type: "A"}}
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("LoadAgent mismatch (-want +got):\n%s", diff)
	}
	if !got.Enabled("device") || got.Enabled("sessions") {
		t.Errorf("Enabled: collectors list not honoured")
	}
}

// TestLoadAgentExamples loads every agent configuration shipped in configs/.
func TestLoadAgentExamples(t *testing.T) {
	files, _ := filepath.Glob("../configs/agent*.yaml")
	if len(files) == 0 {
		t.Fatal("no example agent configuration in configs/")
	}
	for _, f := range files {
		if _, err := LoadAgent(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestLoadAgentBad(t *testing.T) {
	tests := []struct {
		file string
		want string // the error must contain this: file, line, key, reason
	}{
		{"unknown-key.bad.yml", "unknown-key.bad.yml:4: public_ip.provders: unknown key"},
		{"bad-type.bad.yml", "bad-type.bad.yml:4: public_ip.providers[0].type: must be A, AAAA or TXT"},
		{"bad-duration.bad.yml", "bad-duration.bad.yml:2: cannot unmarshal"},
		{"dup-key.bad.yml", `dup-key.bad.yml:2: mapping key "agent_id" already defined`},
		{"bad-schedule.bad.yml", "bad-schedule.bad.yml:1: schedule:"},
		{"bad-store.bad.yml", `bad-store.bad.yml:1: stores[1]: "shop a" must be`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := LoadAgent(filepath.Join("testdata", tt.file))
			if err == nil {
				t.Fatal("LoadAgent succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *config.Error", err)
			}
		})
	}
}

func TestAgentValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Agent)
		want string // "" for valid
	}{
		{"defaults", func(*Agent) {}, ""},
		{"bad server", func(a *Agent) { a.Server = "ftp://x" }, "server:"},
		{"zero timeout", func(a *Agent) { a.PublicIP.Timeout = 0 }, "public_ip.timeout"},
		{"unknown collector", func(a *Agent) { a.Collectors = []string{"gpu"} }, `collectors[0]: unknown collector "gpu"`},
		{"dup provider", func(a *Agent) {
			p := Provider{Name: "x", Kind: "dns", Server: "1.2.3.4:53", Query: "q.", Type: "A"}
			a.PublicIP.Providers = []Provider{p, p}
		}, `providers[1].name: duplicate provider "x"`},
		{"server without port", func(a *Agent) {
			a.PublicIP.Providers = []Provider{{Name: "x", Server: "1.2.3.4", Query: "q.", Type: "A"}}
		}, "providers[0].server: must be host:port"},
		{"https with query", func(a *Agent) {
			a.PublicIP.Providers = []Provider{{Name: "x", Kind: "https", URL: "https://e.example", Query: "q."}}
		}, "providers[0].kind: https providers take only name and url"},
		{"https bad url", func(a *Agent) {
			a.PublicIP.Providers = []Provider{{Name: "x", Kind: "https", URL: "e.example"}}
		}, "providers[0].url"},
		{"bad kind", func(a *Agent) { a.PublicIP.Providers = []Provider{{Name: "x", Kind: "smtp"}} }, "kind: must be dns or https"},
		{"resolver egress without query", func(a *Agent) { a.PublicIP.ResolverEgress.Query = "" }, "resolver_egress.query"},
		{"resolver egress disabled", func(a *Agent) { a.PublicIP.ResolverEgress = ResolverEgress{Disabled: true} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := DefaultAgent()
			tt.edit(&a)
			err := a.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestEmptyFileKeepsDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(path, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadAgent(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultAgent(); !cmp.Equal(&want, got) {
		t.Errorf("empty file changed the defaults: %s", cmp.Diff(&want, got))
	}
}

func FuzzDecodeAgent(f *testing.F) {
	for _, p := range []string{"testdata/agent.good.yml", "testdata/unknown-key.bad.yml", "../configs/agent.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultAgent()
		doc, err := Decode("fuzz.yaml", data, &cfg)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *config.Error: %v", err, err)
			}
			return
		}
		// Validation errors must locate without panicking.
		_ = doc.Wrap(cfg.Validate())
	})
}
