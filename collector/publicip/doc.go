// Package publicip discovers the machine's public egress addresses by asking
// echo services, which answer with the source address of the query they
// received.
//
// DNS echo providers (OpenDNS, Google, Cloudflare, Akamai) are queried
// directly over UDP, and over TCP when a reply is truncated. Because a fingerprint
// browser's HTTP or SOCKS proxy does not carry these queries, they show the
// machine's own line. HTTPS providers are fetched through the proxy named by
// HTTP_PROXY/HTTPS_PROXY, as a browser's traffic would be, so a difference
// between the two shows a second line. Every provider and transport becomes one
// report.Answer; the consensus of each address family becomes PublicIP.V4 and
// PublicIP.V6, and any disagreement sets PublicIP.Conflict.
//
// The package also probes the egress address of the system's recursive
// resolver (whoami.ds.akahelp.net), which shows where the machine's DNS
// lookups leave from. It records that probe beside the consensus and does not
// count it in it.
package publicip
