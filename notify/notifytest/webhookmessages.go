package notifytest

import (
	"fmt"
	"strings"
	"time"

	"github.com/storefence/storefence/notify"
)

// SampleMessage is a typical alert, for a notifier's happy path.
func SampleMessage() *notify.Message {
	return &notify.Message{
		ID:       "01J0SAMPLE0000000000000000",
		Kind:     "alert",
		Language: "en",
		Severity: "critical",
		Title:    "Shared public IP across stores",
		Sections: []notify.Section{{
			Title:  "Stores A & B share 203.0.113.7",
			Fields: []notify.Field{{Name: "Stores", Value: "A, B"}, {Name: "IP", Value: "203.0.113.7"}},
			Text:   "Give each store its own line <before> the next audit.",
		}},
		Footer:  "storefence · 2025-06-01 09:00",
		Created: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC),
	}
}

// hostile is text that breaks naive escaping: Chinese, emoji (some of
// them several code points, one outside the BMP), every Telegram
// MarkdownV2 special, backslashes, Slack's and Discord's mention syntax,
// HTML and a URL.
const hostile = "店铺共用同一公网IP，请立即整改。🚨👨‍👩‍👧 " +
	`_*[]()~` + "`" + `>#+-=|{}.! \ \\ \* C:\path\ & &amp; < > <!channel> @everyone <@123> ||spoiler|| **bold** ` +
	"<b>html</b> https://example.com/x?a=1&b=2 "

// HugeMessage is a message far beyond every vendor's limits, made of
// hostile text: a long title, more sections than Slack's 50 blocks or
// Discord's 25 fields, long field values, long paragraphs and a footer.
// Every integration must cut it to something its receiver accepts.
func HugeMessage() *notify.Message {
	m := &notify.Message{
		ID:       "01J0HUGE00000000000000000",
		Kind:     "digest",
		Language: "zh-CN",
		Severity: "high",
		Title:    strings.Repeat(hostile, 8),
		Footer:   "storefence 每日摘要 · " + hostile,
		Created:  time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC),
	}
	for i := range 60 {
		m.Sections = append(m.Sections, notify.Section{
			Title: fmt.Sprintf("发现 %d: %s", i+1, hostile),
			Fields: []notify.Field{
				{Name: "店铺 " + hostile, Value: strings.Repeat(hostile, 6)},
				{Name: "IP", Value: "203.0.113." + fmt.Sprint(i)},
			},
			Text: strings.Repeat(hostile, 20),
		})
	}
	return m
}
