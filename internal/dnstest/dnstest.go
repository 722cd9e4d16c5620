// Package dnstest runs DNS servers on loopback for tests: an in-process
// server on one port for both UDP and TCP, and echo handlers that answer
// like the public-IP echo services do.
package dnstest

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// Start serves h over UDP and TCP on one loopback port and returns that
// address ("127.0.0.1:port"). The servers stop when the test ends.
func Start(tb testing.TB, h dns.Handler) string {
	tb.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		l, err := net.Listen("tcp4", pc.LocalAddr().String())
		if err != nil { // the TCP port is taken: try another
			pc.Close()
			continue
		}
		serve(tb, &dns.Server{PacketConn: pc, Handler: h})
		serve(tb, &dns.Server{Listener: l, Handler: h})
		return pc.LocalAddr().String()
	}
	tb.Fatal("no loopback port free for both UDP and TCP")
	return ""
}

// serve runs srv until the test ends, returning once it listens.
func serve(tb testing.TB, srv *dns.Server) {
	tb.Helper()
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	errc := make(chan error, 1)
	go func() { errc <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-errc:
		tb.Fatalf("dns server: %v", err)
	}
	tb.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			tb.Errorf("dns server shutdown: %v", err)
		}
	})
}

// Echo returns a handler that answers every A, AAAA or TXT question with
// the address that addr returns for the query's source, in the question's
// class: what an echo service such as myip.opendns.com does. Questions of
// another type get an empty answer.
func Echo(addr func(src net.Addr) net.IP) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if len(req.Question) == 1 {
			if rr := answer(req.Question[0], addr(w.RemoteAddr())); rr != nil {
				m.Answer = []dns.RR{rr}
			}
		}
		w.WriteMsg(m)
	}
}

// Fixed is an Echo address function that always says ip.
func Fixed(ip string) func(net.Addr) net.IP {
	return func(net.Addr) net.IP { return net.ParseIP(ip) }
}

// Source is an Echo address function that says the query's source address.
func Source(src net.Addr) net.IP {
	switch a := src.(type) {
	case *net.UDPAddr:
		return a.IP
	case *net.TCPAddr:
		return a.IP
	}
	return nil
}

func answer(q dns.Question, ip net.IP) dns.RR {
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: q.Qclass, Ttl: 0}
	switch {
	case ip == nil:
		return nil
	case q.Qtype == dns.TypeA && ip.To4() != nil:
		return &dns.A{Hdr: hdr, A: ip.To4()}
	case q.Qtype == dns.TypeAAAA && ip.To4() == nil:
		return &dns.AAAA{Hdr: hdr, AAAA: ip}
	case q.Qtype == dns.TypeTXT:
		return &dns.TXT{Hdr: hdr, Txt: []string{ip.String()}}
	}
	return nil
}
