package render

import (
	"io"
	"strings"

	"github.com/storefence/storefence/policy"
)

// Markdown writes a as GitHub-flavoured Markdown, to paste into a ticket.
func Markdown(w io.Writer, a *policy.Audit) error {
	m := &tw{w: w}
	m.line("## storefence audit, %s", a.EvaluatedAt.Format("2006-01-02 15:04 MST"))
	m.line("")
	m.line("%s.", upper(summary(a)))
	if len(a.Findings) > 0 {
		m.line("")
		m.line("### Findings")
		m.line("")
		m.line("| severity | signal | value | stores | seen | fix |")
		m.line("|---|---|---|---|---|---|")
		for i := range a.Findings {
			f := &a.Findings[i]
			sev, fix := "**"+f.Severity.String()+"**", policy.Advice(f.Signal)
			if f.Escalated {
				sev += " (raised: a suspended or closed store shares it)"
			}
			if f.Exempted {
				sev, fix = "exempted", "exempted: "+f.Exemption
			}
			m.line("| %s | `%s` | `%s` | %s | %s | %s |", sev, f.Signal, mdCell(f.Value), mdCell(storeList(f.Stores, 20)), span(f), mdCell(fix))
		}
	}
	if len(a.Clusters) > 0 {
		m.line("")
		m.line("### Clusters")
		m.line("")
		for i, c := range a.Clusters {
			m.line("%d. **%s**: %s (%d stores), through %s", i+1, c.Severity, mdCell(storeList(c.Stores, 30)), len(c.Stores), strings.Join(c.Signals, ", "))
			for _, l := range c.JoinedBy {
				m.line("   - joined by `%s` `%s` (%d stores)", l.Signal, mdCell(l.Value), l.Stores)
			}
			if c.JoinedByMore > 0 {
				m.line("   - and %d more findings", c.JoinedByMore)
			}
		}
	}
	if len(a.Warnings) > 0 {
		m.line("")
		m.line("### Warnings")
		m.line("")
		for _, wn := range a.Warnings {
			who := strings.TrimSpace(wn.Agent + " " + wn.Store)
			m.line("- `%s` %s: %s", wn.Kind, mdCell(who), mdCell(wn.Detail))
		}
	}
	return m.err
}

// mdCell escapes what would break a table cell or start markup.
func mdCell(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "`", "'", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
