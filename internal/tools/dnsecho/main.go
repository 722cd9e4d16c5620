// Command dnsecho is a DNS echo service for tests and benchmarks: it answers
// every A, AAAA and TXT question with the address the query came from (or
// with -answer), over UDP and TCP, like myip.opendns.com and
// o-o.myaddr.l.google.com do. It stands in for those services on loopback
// and in the end-to-end test's "internet" network namespace.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/storefence/storefence/internal/dnstest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:5353", "address to serve on, UDP and TCP")
	answer := flag.String("answer", "", "answer with this address instead of the query's source")
	delay := flag.Duration("delay", 0, "wait this long before each answer (a slow provider)")
	flag.Parse()
	if err := run(*listen, *answer, *delay); err != nil {
		fmt.Fprintln(os.Stderr, "dnsecho:", err)
		os.Exit(1)
	}
}

func run(listen, answer string, delay time.Duration) error {
	addr := dnstest.Source
	if answer != "" {
		if net.ParseIP(answer) == nil {
			return fmt.Errorf("-answer %q is not an IP address", answer)
		}
		addr = dnstest.Fixed(answer)
	}
	var h dns.Handler = dnstest.Echo(addr)
	if delay > 0 {
		inner := h
		h = dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {
			time.Sleep(delay)
			inner.ServeDNS(w, m)
		})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 2)
	servers := []*dns.Server{{Addr: listen, Net: "udp", Handler: h}, {Addr: listen, Net: "tcp", Handler: h}}
	for _, s := range servers {
		go func() { errc <- s.ListenAndServe() }()
	}
	fmt.Fprintf(os.Stderr, "dnsecho: serving on %s (udp, tcp)\n", listen)
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	for _, s := range servers {
		s.Shutdown()
	}
	return nil
}
