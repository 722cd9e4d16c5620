package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadServerExample(t *testing.T) {
	cfg, err := LoadServer("../configs/server.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":8443" || cfg.Database != "/var/lib/storefence/storefence.db" || cfg.Notify.Language != "zh-CN" {
		t.Errorf("example server.yaml loaded as %+v", cfg)
	}
}

func TestLoadServerBad(t *testing.T) {
	tests := []struct{ body, want string }{
		{"stores_file: s\nlisten: 8443\n", ":2: listen: must be host:port"},
		{"stores_file: s\ntls: {cert_file: c}\n", ":2: tls: give both"},
		{"listen: \":1\"\n", "stores_file: required"},
		{"stores_file: s\ntrusted_proxies: [10.0.0.0/8, proxy]\n", ":2: trusted_proxies[1]"},
		{"stores_file: s\nnotify:\n  channels:\n    - {name: a, kind: icq, url: \"https://x.example/hook?token=SECRET\"}\n", "notify.channels[0].kind"},
		{"stores_file: s\nnotify:\n  channels:\n    - {name: a, kind: slack, url: \"not a url SECRET\"}\n", "notify.channels[0].url: not an http(s) URL"},
		{"stores_file: s\nnotify:\n  channels:\n    - {name: a, kind: telegram, url_file: f}\n", "notify.channels[0].chat_id: required"},
		{"stores_file: s\nretention: forever\n", ":2: duration \"forever\""},
		{"stores_file: s\nlisten_addr: x\n", ":2: listen_addr: unknown key"},
	}
	for _, tt := range tests {
		p := filepath.Join(t.TempDir(), "server.yaml")
		os.WriteFile(p, []byte(tt.body), 0o600)
		_, err := LoadServer(p)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadServer(%q) = %v, want %q", tt.body, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("a webhook URL leaked into the error: %v", err)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("https://oapi.dingtalk.com/robot/send?access_token=abc")
	for _, out := range []string{s.String(), s.GoString()} {
		if strings.Contains(out, "abc") {
			t.Errorf("secret printed: %s", out)
		}
	}
}

func FuzzDecodeServer(f *testing.F) {
	if b, err := os.ReadFile("../configs/server.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("stores_file: s\nnotify:\n  channels:\n    - {name: a, kind: slack, url: \"https://h.example/x\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultServer()
		doc, err := Decode("fuzz.yaml", data, &cfg)
		if err != nil {
			return
		}
		_ = doc.Wrap(cfg.Validate())
	})
}
