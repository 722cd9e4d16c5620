package dispatch

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/notify/dingtalk"
	"github.com/storefence/storefence/notify/discord"
	"github.com/storefence/storefence/notify/feishu"
	"github.com/storefence/storefence/notify/slack"
	"github.com/storefence/storefence/notify/teams"
	"github.com/storefence/storefence/notify/telegram"
	"github.com/storefence/storefence/notify/webhook"
	"github.com/storefence/storefence/notify/wecom"
	"github.com/storefence/storefence/policy"
)

// Channels builds the configured channels: it reads their URL and secret
// files and templates and constructs each kind's notifier. Errors name
// the channel, never its URL or secret.
func Channels(cfg config.Notify, client *http.Client, now func() time.Time) ([]Channel, error) {
	var out []Channel
	for _, c := range cfg.Channels {
		ch, err := channel(cfg, c, client, now)
		if err != nil {
			return nil, fmt.Errorf("notify channel %s: %w", c.Name, err)
		}
		out = append(out, ch)
	}
	return out, nil
}

func channel(cfg config.Notify, c config.Channel, client *http.Client, now func() time.Time) (Channel, error) {
	t := notify.Target{Name: c.Name, URL: string(c.URL), ChatID: c.ChatID}
	if c.URLFile != "" {
		b, err := os.ReadFile(c.URLFile)
		if err != nil {
			return Channel{}, fmt.Errorf("url_file: %w", err)
		}
		t.URL = strings.TrimSpace(string(b))
	}
	if c.SecretFile != "" {
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return Channel{}, fmt.Errorf("secret_file: %w", err)
		}
		t.Secret = strings.TrimSpace(string(b))
	}
	ch := Channel{Name: c.Name, Kind: c.Kind, Language: cfg.Language, Keyword: c.Keyword, Stores: c.Stores, Limits: Limits[c.Kind]}
	if c.Language != "" {
		ch.Language = c.Language
	}
	ch.MinSeverity = policy.Low
	if c.MinSeverity != "" {
		sev, err := policy.ParseSeverity(c.MinSeverity)
		if err != nil {
			return Channel{}, fmt.Errorf("min_severity: %w", err)
		}
		ch.MinSeverity = sev
	}
	if c.TemplateFile != "" {
		tmpl, err := template.New(c.TemplateFile).Option("missingkey=error").ParseFiles(c.TemplateFile)
		if err != nil {
			return Channel{}, fmt.Errorf("template_file: %w", err)
		}
		ch.Template = tmpl.Lookup(baseName(c.TemplateFile))
	}
	var err error
	switch c.Kind {
	case "dingtalk":
		ch.Notifier, err = dingtalk.New(t, client, now)
	case "wecom":
		ch.Notifier, err = wecom.New(t, client, now)
	case "feishu":
		ch.Notifier, err = feishu.New(t, client, now)
	case "slack":
		ch.Notifier, err = slack.New(t, client, now)
	case "discord":
		ch.Notifier, err = discord.New(t, client, now)
	case "teams":
		ch.Notifier, err = teams.New(t, client, now)
	case "telegram":
		ch.Notifier, err = telegram.New(t, client, now)
	case "webhook":
		ch.Notifier, err = webhook.New(t, client, now)
	default:
		err = fmt.Errorf("unknown kind %q", c.Kind)
	}
	return ch, err
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}
