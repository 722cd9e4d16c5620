// Package render writes a storefence.audit/v1 result for people and
// programs: JSON, an 80-column table for terminals, Markdown for tickets,
// and one self-contained HTML page with a graph per cluster.
package render

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/storefence/storefence/policy"
)

// Formats lists the output formats by name.
var Formats = []string{"table", "json", "markdown", "html"}

// Options change how an audit is written.
type Options struct {
	Color bool // ANSI colours in the table (only on a terminal without NO_COLOR)
}

// Write writes a in format.
func Write(w io.Writer, format string, a *policy.Audit, opt Options) error {
	switch format {
	case "json":
		return JSON(w, a)
	case "table":
		return Table(w, a, opt)
	case "markdown":
		return Markdown(w, a)
	case "html":
		return HTML(w, a)
	}
	return fmt.Errorf("render: unknown format %q (known: %s)", format, strings.Join(Formats, ", "))
}

// JSON writes storefence.audit/v1, indented. Empty lists are [] not null.
func JSON(w io.Writer, a *policy.Audit) error {
	out := *a
	if out.Findings == nil {
		out.Findings = []policy.Finding{}
	}
	if out.Clusters == nil {
		out.Clusters = []policy.Cluster{}
	}
	if out.Warnings == nil {
		out.Warnings = []policy.Warning{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&out)
}

// summary counts findings by severity, for the first line of every format.
func summary(a *policy.Audit) string {
	counts := map[policy.Severity]int{}
	exempted := 0
	for _, f := range a.Findings {
		if f.Exempted {
			exempted++
			continue
		}
		counts[f.Severity]++
	}
	var parts []string
	for s := policy.Critical; s >= policy.Low; s-- {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if exempted > 0 {
		parts = append(parts, fmt.Sprintf("%d exempted", exempted))
	}
	f := plural(len(a.Findings), "finding")
	if len(parts) > 0 {
		f += " (" + strings.Join(parts, ", ") + ")"
	}
	return f + ", " + plural(len(a.Clusters), "cluster") + ", " + plural(len(a.Warnings), "warning")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// storeList names up to max stores and counts the rest.
func storeList(stores []string, max int) string {
	if len(stores) <= max {
		return strings.Join(stores, ", ")
	}
	return strings.Join(stores[:max], ", ") + fmt.Sprintf(" and %d more", len(stores)-max)
}

// span is the time range of a finding's evidence, "" for registration data.
func span(f *policy.Finding) string {
	var first, last time.Time
	for _, e := range f.Evidence {
		if e.FirstSeen.IsZero() {
			continue
		}
		if first.IsZero() || e.FirstSeen.Before(first) {
			first = e.FirstSeen
		}
		if e.LastSeen.After(last) {
			last = e.LastSeen
		}
	}
	if first.IsZero() {
		return "registration"
	}
	if a, b := first.Format("2006-01-02"), last.Format("2006-01-02"); a != b {
		return a + " … " + b
	}
	return first.Format("2006-01-02")
}

// agents lists the distinct agents of a finding's evidence.
func agents(f *policy.Finding, max int) string {
	seen := map[string]bool{}
	var out []string
	for _, e := range f.Evidence {
		if e.Agent != "" && !seen[e.Agent] {
			seen[e.Agent] = true
			out = append(out, e.Agent)
		}
	}
	return storeList(out, max)
}
