package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storefence/storefence/agent"
	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/policy"
)

// runServer runs f's server with Run on a loopback port until the test ends.
func runServer(t *testing.T, f *fixture) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(ctx, func(a string) { addrc <- a }) }()
	select {
	case a := <-addrc:
		t.Cleanup(func() { cancel(); <-done })
		return a
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return ""
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "storefence test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// TestTLSWithPinnedCA serves over TLS from files; an agent that pins the
// certificate delivers, one that does not trust it fails.
func TestTLSWithPinnedCA(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	f := newFixture(t, func(c *config.Server) {
		c.Listen = "127.0.0.1:0"
		c.TLS = config.TLS{CertFile: cert, KeyFile: key}
	}, "vps-a")
	addr := runServer(t, f)
	tokFile := filepath.Join(dir, "agent.token")
	os.WriteFile(tokFile, []byte(f.tokens["vps-a"]+"\n"), 0o600)

	pinned, err := agent.NewClient("https://"+addr, tokFile, cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := pinned.Send(context.Background(), rep("r1", "vps-a", []string{"shop-a"}, "203.0.113.7")); err != nil {
		t.Fatalf("send with the pinned CA: %v", err)
	}
	unpinned, _ := agent.NewClient("https://"+addr, tokFile, "")
	err = unpinned.Send(context.Background(), rep("r2", "vps-a", []string{"shop-a"}, "203.0.113.7"))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("send without trusting the server's certificate: %v, want a certificate error", err)
	}
}

// TestEvaluatesAfterIngest checks that an ingest triggers an evaluation
// whose results reach the metrics and the OnEvaluate hook.
func TestEvaluatesAfterIngest(t *testing.T) {
	f := newFixture(t, func(c *config.Server) { c.Listen = "127.0.0.1:0"; c.Evaluate = "@every 1h" }, "vps-a", "vps-b")
	evaluated := make(chan int, 16)
	f.srv.onEval = func(_ context.Context, a *policy.Audit, _ time.Time) bool { evaluated <- len(a.Findings); return false }
	runServer(t, f)
	<-evaluated // the one after start
	f.post(t, f.tokens["vps-a"], mustJSON(rep("r1", "vps-a", []string{"shop-a"}, "203.0.113.7")), nil)
	f.post(t, f.tokens["vps-b"], mustJSON(rep("r2", "vps-b", []string{"shop-b"}, "203.0.113.7")), nil)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case n := <-evaluated:
			if n > 0 {
				_, body := get(t, f.http.URL+"/metrics", "")
				if !strings.Contains(string(body), `storefence_open_findings{severity="critical"} 1`) {
					t.Errorf("metrics after the evaluation:\n%s", body)
				}
				return
			}
		case <-deadline:
			t.Fatal("no evaluation with the new finding within 10 s of the ingest")
		}
	}
}
