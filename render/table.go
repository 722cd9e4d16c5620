package render

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/storefence/storefence/policy"
)

const width = 80

// Table writes a for a terminal: at most 80 columns, colour only when asked.
func Table(w io.Writer, a *policy.Audit, opt Options) error {
	t := &tw{w: w, color: opt.Color}
	t.line("storefence audit at %s", a.EvaluatedAt.Format("2006-01-02 15:04:05Z07:00"))
	t.line("%s", summary(a))
	if len(a.Findings) > 0 {
		t.line("")
		t.line("%s", t.bold("FINDINGS"))
	}
	for i := range a.Findings {
		f := &a.Findings[i]
		sev := strings.ToUpper(f.Severity.String())
		if f.Exempted {
			sev = "exempt"
		}
		t.line("%s %-14s %s", t.sev(f.Severity, f.Exempted, fmt.Sprintf("%-8s", sev)), f.Signal, clip(f.Value, width-25))
		t.wrap("  stores: ", storeList(f.Stores, 12))
		if ag := agents(f, 6); ag != "" {
			t.wrap("  agents: ", ag+"; seen "+span(f))
		}
		if f.Escalated {
			t.wrap("  raised: ", "to critical, because a suspended or closed store shares it")
		}
		if f.Exempted {
			t.wrap("  exempt: ", f.Exemption)
		} else {
			t.wrap("  fix:    ", policy.Advice(f.Signal))
		}
		t.line("  id:     %s", f.ID)
	}
	if len(a.Clusters) > 0 {
		t.line("")
		t.line("%s", t.bold("CLUSTERS")+" (stores that a marketplace may see as one seller)")
	}
	for i, c := range a.Clusters {
		t.line("%d. %s, %d stores, through %s", i+1, t.sev(c.Severity, false, c.Severity.String()), len(c.Stores), strings.Join(c.Signals, ", "))
		t.wrap("   stores: ", storeList(c.Stores, 20))
		for _, l := range c.JoinedBy {
			t.wrap("   joined by: ", fmt.Sprintf("%s %s (%d stores)", l.Signal, l.Value, l.Stores))
		}
		if c.JoinedByMore > 0 {
			t.line("   and %d more findings", c.JoinedByMore)
		}
	}
	if len(a.Warnings) > 0 {
		t.line("")
		t.line("%s", t.bold("WARNINGS"))
	}
	for _, wn := range a.Warnings {
		who := wn.Agent
		if wn.Store != "" {
			who = strings.TrimSpace(who + " store " + wn.Store)
		}
		t.wrapIndent(fmt.Sprintf("%s %s: ", wn.Kind, who), "    ", wn.Detail)
	}
	return t.err
}

type tw struct {
	w     io.Writer
	color bool
	err   error
}

func (t *tw) line(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format+"\n", args...)
	}
}

// wrap writes prefix and text, wrapping text at word boundaries under the
// width and indenting continuation lines under the text.
func (t *tw) wrap(prefix, text string) {
	t.wrapIndent(prefix, strings.Repeat(" ", utf8.RuneCountInString(prefix)), text)
}

// wrapIndent is wrap with continuation lines indented by indent.
func (t *tw) wrapIndent(prefix, indent, text string) {
	line, empty := prefix, true
	for _, word := range strings.Fields(text) {
		if (!empty || line != prefix) && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > width {
			t.line("%s", line)
			line, empty = indent, true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	t.line("%s", line)
}

func (t *tw) bold(s string) string {
	if !t.color {
		return s
	}
	return "\x1b[1m" + s + "\x1b[0m"
}

func (t *tw) sev(s policy.Severity, exempted bool, text string) string {
	if !t.color {
		return text
	}
	code := map[policy.Severity]string{policy.Critical: "1;31", policy.High: "31", policy.Medium: "33", policy.Low: "36"}[s]
	if exempted {
		code = "2"
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

// clip shortens s to n runes with an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
