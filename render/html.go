package render

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"

	"github.com/storefence/storefence/policy"
)

// Limits that keep a cluster's graph readable however large the cluster.
const (
	maxGraphStores = 24
	maxGraphEdges  = 12
)

// HTML writes a as one self-contained page (no external assets): the
// findings, and per cluster an SVG graph with stores as nodes and the shared
// values that join them as labelled edges.
func HTML(w io.Writer, a *policy.Audit) error {
	v := htmlView{Audit: a, Summary: upper(summary(a))}
	byID := map[string]*policy.Finding{}
	for i := range a.Findings {
		byID[a.Findings[i].ID] = &a.Findings[i]
	}
	for i := range a.Clusters {
		v.Graphs = append(v.Graphs, layout(i+1, &a.Clusters[i], a.Findings, byID))
	}
	return pageTmpl.Execute(w, v)
}

type htmlView struct {
	Audit   *policy.Audit
	Summary string
	Graphs  []graph
}

type graph struct {
	N              int
	Cluster        *policy.Cluster
	W, H           int
	Nodes          []node
	Edges          []edge
	Hubs           []hub
	Labels         []label
	MoreStores     int
	MoreFindings   int
	StoresListText string
}

type node struct {
	X, Y   float64
	Label  string
	Anchor string
	LX, LY float64
}

type edge struct {
	X1, Y1, X2, Y2 float64
	Color          string
	Width          float64
	Title          string
}

// label is a stack of lines beside an edge or a hub.
type label struct {
	X, Y   float64
	Anchor string
	Color  string
	Lines  []string
}

type hub struct {
	X, Y  float64
	Color string
	Title string
}

var sevColor = map[policy.Severity]string{policy.Critical: "#b91c1c", policy.High: "#ea580c", policy.Medium: "#ca8a04", policy.Low: "#0891b2"}

// layout places a cluster's stores on a circle and its findings as edges (two
// stores) or hubs (more), the joining findings first.
func layout(n int, c *policy.Cluster, all []policy.Finding, byID map[string]*policy.Finding) graph {
	g := graph{N: n, Cluster: c, W: 720, H: 520}
	in := map[string]bool{}
	for _, s := range c.Stores {
		in[s] = true
	}
	// The findings to draw: those that join the cluster, then the others
	// that lie inside it, most severe first (all is sorted that way).
	var fs []*policy.Finding
	seen := map[string]bool{}
	for _, l := range c.JoinedBy {
		if f := byID[l.Finding]; f != nil {
			fs, seen[f.ID] = append(fs, f), true
		}
	}
	// Findings below the weakest joining one are below the cluster threshold.
	floor := policy.Critical
	for _, f := range fs {
		floor = min(floor, f.Severity)
	}
	for i := range all {
		f := &all[i]
		if seen[f.ID] || f.Exempted || f.Severity < floor || !allIn(f.Stores, in) {
			continue
		}
		fs = append(fs, f)
	}
	if len(fs) > maxGraphEdges {
		g.MoreFindings = len(fs) - maxGraphEdges
		fs = fs[:maxGraphEdges]
	}
	// The stores to draw: those the drawn findings touch, in cluster order.
	shown := map[string]bool{}
	for _, f := range fs {
		for _, s := range f.Stores {
			shown[s] = true
		}
	}
	var stores []string
	for _, s := range c.Stores {
		if shown[s] && len(stores) < maxGraphStores {
			stores = append(stores, s)
		}
	}
	g.MoreStores = len(c.Stores) - len(stores)
	cx, cy, r := float64(g.W)/2, float64(g.H)/2, 190.0
	pos := map[string][2]float64{}
	for i, s := range stores {
		a := 2*math.Pi*float64(i)/float64(len(stores)) - math.Pi/2
		x, y := cx+r*math.Cos(a), cy+r*math.Sin(a)
		pos[s] = [2]float64{x, y}
		nd := node{X: x, Y: y, Label: clip(s, 22), LX: x + 14*math.Cos(a), LY: y + 14*math.Sin(a) + 4, Anchor: "middle"}
		switch {
		case math.Cos(a) > 0.3:
			nd.Anchor = "start"
		case math.Cos(a) < -0.3:
			nd.Anchor = "end"
		}
		g.Nodes = append(g.Nodes, nd)
	}
	// Findings between the same stores share one edge (or hub) and one
	// stacked label, so that parallel findings never overlap.
	type bundle struct {
		pts [][2]float64
		fs  []*policy.Finding
	}
	var order []string
	bundles := map[string]*bundle{}
	for _, f := range fs {
		var key []string
		var pts [][2]float64
		for _, s := range f.Stores {
			if p, ok := pos[s]; ok {
				key, pts = append(key, s), append(pts, p)
			}
		}
		if len(pts) < 2 {
			continue
		}
		k := strings.Join(key, ",")
		if bundles[k] == nil {
			bundles[k] = &bundle{pts: pts}
			order = append(order, k)
		}
		bundles[k].fs = append(bundles[k].fs, f)
	}
	for _, k := range order {
		b := bundles[k]
		sev := b.fs[0].Severity
		var lines, titles []string
		for i, f := range b.fs {
			sev = max(sev, f.Severity)
			titles = append(titles, fmt.Sprintf("%s %s (%s)", f.Signal, f.Value, f.Severity))
			if i < 4 {
				lines = append(lines, clip(f.Signal+" "+f.Value, 34))
			}
		}
		if len(b.fs) > 4 {
			lines = append(lines, fmt.Sprintf("and %d more", len(b.fs)-4))
		}
		color, title := sevColor[sev], strings.Join(titles, "; ")
		width := 2 + math.Min(float64(len(b.fs)), 4)
		if len(b.pts) == 2 {
			p, q := b.pts[0], b.pts[1]
			g.Edges = append(g.Edges, edge{X1: p[0], Y1: p[1], X2: q[0], Y2: q[1], Color: color, Width: width, Title: title})
			g.Labels = append(g.Labels, labelAt((p[0]+q[0])/2, (p[1]+q[1])/2, cx, cy, color, lines))
			continue
		}
		var hx, hy float64
		for _, p := range b.pts {
			hx += p[0]
			hy += p[1]
		}
		hx, hy = cx+(hx/float64(len(b.pts))-cx)*0.5, cy+(hy/float64(len(b.pts))-cy)*0.5
		for _, p := range b.pts {
			g.Edges = append(g.Edges, edge{X1: hx, Y1: hy, X2: p[0], Y2: p[1], Color: color, Width: width, Title: title})
		}
		g.Hubs = append(g.Hubs, hub{X: hx, Y: hy, Color: color, Title: title})
		g.Labels = append(g.Labels, labelAt(hx+10, hy, cx-1, cy, color, lines))
	}
	return g
}

// labelAt places a label at (x, y), pushed away from the centre (cx, cy) so
// that it stands beside the edge rather than on it, growing outward.
func labelAt(x, y, cx, cy float64, color string, lines []string) label {
	l := label{X: x, Y: y - float64(len(lines)-1)*7, Color: color, Lines: lines, Anchor: "start"}
	if x < cx {
		l.Anchor, l.X = "end", x-8
	} else {
		l.X = x + 8
	}
	return l
}

func allIn(stores []string, set map[string]bool) bool {
	for _, s := range stores {
		if !set[s] {
			return false
		}
	}
	return true
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"advice": policy.Advice,
	"stores": func(s []string) string { return storeList(s, 40) },
	"span":   func(f policy.Finding) string { return span(&f) },
	"lower":  strings.ToLower,
	"f1":     func(x float64) string { return fmt.Sprintf("%.1f", x) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>storefence audit {{.Audit.EvaluatedAt.Format "2006-01-02 15:04"}}</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1f2937}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #e5e7eb;padding-bottom:.3rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{background:#f9fafb;font-weight:600}code{font-size:.9em;background:#f3f4f6;padding:0 .25rem;border-radius:3px}
.sev{font-weight:700;text-transform:uppercase;font-size:.8em;padding:.1rem .4rem;border-radius:3px;color:#fff}
.critical{background:#b91c1c}.high{background:#ea580c}.medium{background:#ca8a04}.low{background:#0891b2}.exempt{background:#9ca3af}
.muted{color:#6b7280}.fix{font-size:.9em}.cluster{border:1px solid #e5e7eb;border-radius:8px;padding:1rem;margin:1rem 0}
svg{width:100%;height:auto;max-width:720px;display:block;margin:auto}svg text{font:12px system-ui,sans-serif}
</style></head><body>
<h1>storefence audit</h1>
<p class="muted">Evaluated at {{.Audit.EvaluatedAt.Format "2006-01-02 15:04:05 MST"}}. {{.Summary}}.</p>
{{if .Graphs}}<h2>Clusters</h2>
<p class="muted">Stores a marketplace may see as one seller. Circles are stores; lines are the values they share.</p>
{{range .Graphs}}<div class="cluster">
<h3>{{.N}}. <span class="sev {{lower .Cluster.Severity.String}}">{{.Cluster.Severity}}</span> {{len .Cluster.Stores}} stores through {{range $i, $s := .Cluster.Signals}}{{if $i}}, {{end}}<code>{{$s}}</code>{{end}}</h3>
<svg viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="cluster {{.N}} graph">
{{range .Edges}}<line x1="{{f1 .X1}}" y1="{{f1 .Y1}}" x2="{{f1 .X2}}" y2="{{f1 .Y2}}" stroke="{{.Color}}" stroke-width="{{f1 .Width}}" stroke-opacity=".75"><title>{{.Title}}</title></line>
{{end}}{{range .Hubs}}<rect x="{{f1 .X}}" y="{{f1 .Y}}" width="14" height="14" transform="translate(-7 -7) rotate(45 {{f1 .X}} {{f1 .Y}})" fill="{{.Color}}"><title>{{.Title}}</title></rect>
{{end}}{{range .Labels}}<text x="{{f1 .X}}" y="{{f1 .Y}}" text-anchor="{{.Anchor}}" fill="{{.Color}}" paint-order="stroke" stroke="#fff" stroke-width="4" stroke-linejoin="round">{{$x := .X}}{{range $i, $l := .Lines}}<tspan x="{{f1 $x}}" dy="{{if $i}}14{{else}}0{{end}}">{{$l}}</tspan>{{end}}</text>
{{end}}{{range .Nodes}}<circle cx="{{f1 .X}}" cy="{{f1 .Y}}" r="9" fill="#1e3a8a" stroke="#fff" stroke-width="2"/>
<text x="{{f1 .LX}}" y="{{f1 .LY}}" text-anchor="{{.Anchor}}" font-weight="600">{{.Label}}</text>
{{end}}</svg>
{{if or .MoreStores .MoreFindings}}<p class="muted">The graph leaves out {{.MoreStores}} stores and {{.MoreFindings}} findings; all are listed below.</p>{{end}}
<p><b>Stores:</b> {{stores .Cluster.Stores}}</p>
<p><b>Joined by:</b> {{range $i, $l := .Cluster.JoinedBy}}{{if $i}}; {{end}}<code>{{$l.Signal}}</code> {{$l.Value}} ({{$l.Stores}} stores){{end}}{{if .Cluster.JoinedByMore}} and {{.Cluster.JoinedByMore}} more{{end}}</p>
</div>
{{end}}{{end}}
{{if .Audit.Findings}}<h2>Findings</h2>
<table><thead><tr><th>severity</th><th>signal</th><th>value</th><th>stores</th><th>seen</th><th>what to do</th></tr></thead><tbody>
{{range .Audit.Findings}}<tr><td>{{if .Exempted}}<span class="sev exempt">exempt</span>{{else}}<span class="sev {{lower .Severity.String}}">{{.Severity}}</span>{{if .Escalated}}<br><span class="muted">raised: a suspended or closed store shares it</span>{{end}}{{end}}</td>
<td><code>{{.Signal}}</code></td><td><code>{{.Value}}</code></td><td>{{stores .Stores}}</td><td class="muted">{{span .}}</td>
<td class="fix">{{if .Exempted}}Exempted: {{.Exemption}}{{else}}{{advice .Signal}}{{end}}<br><span class="muted">id {{.ID}}</span></td></tr>
{{end}}</tbody></table>{{else}}<h2>Findings</h2><p>No store shares a value with another. Your stores look isolated.</p>{{end}}
{{if .Audit.Warnings}}<h2>Warnings</h2><ul>
{{range .Audit.Warnings}}<li><code>{{.Kind}}</code> {{.Agent}}{{if .Store}} store {{.Store}}{{end}}: {{.Detail}}</li>
{{end}}</ul>{{end}}
</body></html>
`))
