package dispatch

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/policy"
)

// maxSections bounds the findings one message lists; the rest are counted.
const maxSections = 20

// text is the wording in one language.
type text struct {
	change              map[ChangeKind]string
	severity            map[string]string
	stores, value, seen string
	finding, joined     string
	fixed               string
	more                string // "… and %d more: run storefence audit"
	footer              string // "storefence · evaluated %s · mute: storefence ack %s --for 24h --reason …"
	titleChanges        string // "storefence: %s"
	titleDigest         string
	digestOpen          string
	digestClusters      string
	digestStale         string
	testTitle, testBody string
	signal              func(string) string
	advice              func(string) string
}

var en = text{
	change:   map[ChangeKind]string{Opened: "OPENED", Grew: "GREW", Escalated: "ESCALATED", Resolved: "RESOLVED", Reminder: "STILL OPEN"},
	severity: map[string]string{"critical": "critical", "high": "high", "medium": "medium", "low": "low"},
	stores:   "Stores", value: "Value", seen: "Seen", finding: "Finding", joined: "Joined",
	fixed:          "Fixed: no two stores share this any more.",
	more:           "… and %d more: run `storefence audit` for the full list.",
	footer:         "storefence · %s",
	titleChanges:   "storefence: %s",
	titleDigest:    "storefence daily digest: %d open findings, %d clusters, %d stale agents",
	digestOpen:     "Open findings by severity",
	digestClusters: "Linked store clusters",
	digestStale:    "Agents not reporting",
	testTitle:      "storefence test message (channel %s)",
	testBody:       "If you can read this, the channel is set up: storefence will warn here when two stores become linked.",
	signal:         func(s string) string { return s },
	advice:         policy.Advice,
}

var zh = text{
	change:   map[ChangeKind]string{Opened: "新增", Grew: "扩大", Escalated: "升级", Resolved: "已解除", Reminder: "仍未解除"},
	severity: map[string]string{"critical": "严重", "high": "高", "medium": "中", "low": "低"},
	stores:   "店铺", value: "关联值", seen: "发现", finding: "编号", joined: "新加入",
	fixed:          "已解除：不再有两个店铺共用此项。",
	more:           "……另有 %d 项：运行 `storefence audit` 查看完整列表。",
	footer:         "storefence · %s",
	titleChanges:   "storefence 店铺关联预警：%s",
	titleDigest:    "storefence 每日摘要：%d 项未解除关联，%d 个关联店铺群，%d 个代理未上报",
	digestOpen:     "未解除关联（按严重程度）",
	digestClusters: "关联店铺群",
	digestStale:    "未上报的代理",
	testTitle:      "storefence 测试消息（频道 %s）",
	testBody:       "收到此消息说明频道配置正确：两个店铺出现关联时，storefence 会在这里预警。",
	signal:         signalZH,
	advice:         adviceZH,
}

func wording(lang string) *text {
	if lang == "en" {
		return &en
	}
	return &zh
}

func signalZH(s string) string {
	names := map[string]string{
		policy.SameMachine: "同一台机器", policy.PublicIP: "公网 IP", policy.HostID: "主机标识", policy.MAC: "网卡 MAC",
		policy.DiskSerial: "磁盘序列号", policy.GatewayMAC: "路由器（网关）MAC", policy.PublicSubnet: "公网网段",
		policy.SessionOrigin: "登录来源", policy.Hostname: "主机名",
		"reg.legal_name": "注册信息：法定名称", "reg.address": "注册信息：地址", "reg.phone": "注册信息：电话",
		"reg.email": "注册信息：邮箱", "reg.bank_account": "注册信息：银行账户", "reg.card": "注册信息：信用卡", "reg.tax_id": "注册信息：税号",
	}
	if n, ok := names[s]; ok {
		return n
	}
	return s
}

func adviceZH(s string) string {
	advice := map[string]string{
		policy.SameMachine:   "每个店铺使用独立的电脑或 VPS；切勿把一台机器从一个店铺转给另一个店铺使用。",
		policy.PublicIP:      "每个店铺使用独立的网络线路和出口 IP；检查每台机器上的代理和 VPN。",
		policy.HostID:        "同一台机器或克隆的镜像服务了多个店铺：使用不同的机器，或重新生成标识（systemd-machine-id-setup、Sysprep），并让每台机器只服务一个店铺。",
		policy.MAC:           "同一块网卡服务了多个店铺：使用不同的硬件或虚拟机。",
		policy.DiskSerial:    "同一块磁盘服务了多个店铺：使用不同的机器或虚拟机。",
		policy.GatewayMAC:    "多个店铺位于同一台路由器之后：为每个店铺配置独立的线路和路由器。",
		policy.PublicSubnet:  "店铺的地址来自同一网段：从不同网段或不同服务商获取线路或代理。",
		policy.SessionOrigin: "同一台工作电脑登录了多个店铺的机器：每个店铺使用独立的工作电脑或跳板机管理。",
		policy.Hostname:      "多个店铺的机器主机名相同：请改名，并确认它们不是同一台机器。",
	}
	if a, ok := advice[s]; ok {
		return a
	}
	if strings.HasPrefix(s, policy.RegPrefix) {
		return "多个店铺共用注册资料：除一个店铺外全部更换，或在平台认可后登记豁免。"
	}
	return ""
}

// severityMark is a coloured dot by severity, green when resolved.
func severityMark(sev string, resolved bool) string {
	if resolved {
		return "🟢"
	}
	switch sev {
	case "critical":
		return "🔴"
	case "high":
		return "🟠"
	case "medium":
		return "🟡"
	}
	return "🔵"
}

// changesMessage is one channel's message about an evaluation's changes.
// tmpl, when set, replaces the layout: its first line is the title, the
// rest the body.
func changesMessage(lang string, changes []Change, evaluated time.Time, tmpl *template.Template) (*notify.Message, error) {
	w := wording(lang)
	m := &notify.Message{Kind: "alert", Language: lang, Created: evaluated, Resolved: true}
	counts := map[ChangeKind]int{}
	for _, c := range changes {
		counts[c.Kind]++
		if c.Kind != Resolved {
			m.Resolved = false
			if severityOf(c.State.Severity) > severityOf(m.Severity) {
				m.Severity = c.State.Severity
			}
		}
	}
	if m.Resolved {
		m.Severity = changes[0].State.Severity
	}
	if counts[Reminder] == len(changes) {
		m.Kind = "reminder"
	}
	var summary []string
	for _, k := range []ChangeKind{Opened, Grew, Escalated, Reminder, Resolved} {
		if counts[k] > 0 {
			summary = append(summary, fmt.Sprintf("%s %d", w.change[k], counts[k]))
		}
	}
	m.Title = fmt.Sprintf(w.titleChanges, strings.Join(summary, ", "))
	for i, c := range changes {
		if i == maxSections {
			m.Sections = append(m.Sections, notify.Section{Text: fmt.Sprintf(w.more, len(changes)-maxSections)})
			break
		}
		m.Sections = append(m.Sections, section(w, c))
	}
	m.Footer = fmt.Sprintf(w.footer, evaluated.UTC().Format("2006-01-02 15:04 UTC"))
	if tmpl != nil {
		return templated(m, tmpl, changes)
	}
	return m, nil
}

func section(w *text, c Change) notify.Section {
	st := c.State
	s := notify.Section{Title: fmt.Sprintf("%s %s · %s · %s", severityMark(st.Severity, c.Kind == Resolved),
		w.change[c.Kind], w.severity[st.Severity], w.signal(st.Signal))}
	s.Fields = append(s.Fields, notify.Field{Name: w.stores, Value: strings.Join(st.Stores, ", ")})
	if len(c.Joined) > 0 {
		s.Fields = append(s.Fields, notify.Field{Name: w.joined, Value: strings.Join(c.Joined, ", ")})
	}
	s.Fields = append(s.Fields, notify.Field{Name: w.value, Value: st.Value})
	for i, e := range c.Evidence {
		if i == 3 {
			break
		}
		line := e.Store
		if e.Agent != "" {
			line += " ← " + e.Agent
		}
		if !e.LastSeen.IsZero() {
			line += " @ " + e.LastSeen.UTC().Format("2006-01-02 15:04")
		}
		s.Fields = append(s.Fields, notify.Field{Name: w.seen, Value: line})
	}
	s.Fields = append(s.Fields, notify.Field{Name: w.finding, Value: st.ID})
	if c.Kind == Resolved {
		s.Text = w.fixed
	} else {
		s.Text = w.advice(st.Signal)
	}
	return s
}

// TemplateData is what a channel's template_file is executed with.
type TemplateData struct {
	Kind     string // alert, reminder
	Language string
	Title    string // the default title
	Changes  []TemplateChange
}

// TemplateChange is one change as a template sees it.
type TemplateChange struct {
	Kind     string // opened, grew, escalated, resolved, reminder
	ID       string
	Signal   string
	Severity string
	Value    string // the masked hint
	Stores   []string
	Joined   []string
	Advice   string
}

func templated(m *notify.Message, tmpl *template.Template, changes []Change) (*notify.Message, error) {
	d := TemplateData{Kind: m.Kind, Language: m.Language, Title: m.Title}
	w := wording(m.Language)
	for _, c := range changes {
		d.Changes = append(d.Changes, TemplateChange{Kind: string(c.Kind), ID: c.State.ID, Signal: c.State.Signal,
			Severity: c.State.Severity, Value: c.State.Value, Stores: c.State.Stores, Joined: c.Joined, Advice: w.advice(c.State.Signal)})
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("template %s: %w", tmpl.Name(), err)
	}
	title, body, _ := strings.Cut(strings.TrimSpace(b.String()), "\n")
	m.Title = strings.TrimSpace(title)
	m.Sections = []notify.Section{{Text: strings.TrimSpace(body)}}
	return m, nil
}

// digestMessage summarises an audit for the daily digest.
func digestMessage(lang string, a *policy.Audit, now time.Time) *notify.Message {
	w := wording(lang)
	bySev := map[string]int{}
	open := 0
	for _, f := range a.Findings {
		if !f.Exempted {
			open++
			bySev[f.Severity.String()]++
		}
	}
	var stale []string
	for _, x := range a.Warnings {
		if x.Kind == policy.StaleAgent {
			stale = append(stale, x.Agent)
		}
	}
	m := &notify.Message{Kind: "digest", Language: lang, Created: now,
		Title: fmt.Sprintf(w.titleDigest, open, len(a.Clusters), len(stale))}
	m.Resolved = open == 0
	var sev notify.Section
	sev.Title = w.digestOpen
	for _, s := range []string{"critical", "high", "medium", "low"} {
		if bySev[s] > 0 {
			if m.Severity == "" {
				m.Severity = s
			}
			sev.Fields = append(sev.Fields, notify.Field{Name: w.severity[s], Value: fmt.Sprint(bySev[s])})
		}
	}
	m.Sections = append(m.Sections, sev)
	if len(a.Clusters) > 0 {
		cl := notify.Section{Title: w.digestClusters}
		for i, c := range a.Clusters {
			if i == 10 {
				cl.Text = fmt.Sprintf(w.more, len(a.Clusters)-10)
				break
			}
			cl.Fields = append(cl.Fields, notify.Field{Name: fmt.Sprintf("#%d %s", i+1, w.severity[c.Severity.String()]), Value: strings.Join(c.Stores, ", ")})
		}
		m.Sections = append(m.Sections, cl)
	}
	if len(stale) > 0 {
		m.Sections = append(m.Sections, notify.Section{Title: w.digestStale, Text: strings.Join(stale, ", ")})
	}
	m.Footer = fmt.Sprintf(w.footer, now.UTC().Format("2006-01-02 15:04 UTC"))
	return m
}

// testMessage is what `storefence notify test` sends.
func testMessage(lang, channel string, now time.Time) *notify.Message {
	w := wording(lang)
	return &notify.Message{ID: "test-" + now.UTC().Format("20060102T150405Z"), Kind: "test", Language: lang, Created: now,
		Title: fmt.Sprintf(w.testTitle, channel), Sections: []notify.Section{{Text: w.testBody}},
		Footer: fmt.Sprintf(w.footer, now.UTC().Format("2006-01-02 15:04 UTC"))}
}
