package notifytest

import (
	"testing"
)

func TestParseMarkdownV2(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "plain text", want: "plain text"},
		{in: "*bold* _it_ __under__ ~strike~ ||spoiler|| `co*de` done", want: "bold it under strike spoiler co*de done"},
		{in: "*bold _it_ still*", want: "bold it still"},
		{in: "[link](https://example.com/a\\)b) after", want: "link after"},
		{in: "```go\nfmt.Println(1)\n```", want: "fmt.Println(1)\n"},
		{in: "> quoted\n> more", want: " quoted\n more"},
		{in: `escaped \. \! \\ \_ \* \[ \] \( \) \~ \` + "`" + ` \> \# \+ \- \= \| \{ \} 中\中`, want: "escaped . ! \\ _ * [ ] ( ) ~ ` > # + - = | { } 中\\中"},
		{in: "trailing \\", want: "trailing \\"},
		{in: "end.", err: "Character '.' is reserved and must be escaped with the preceding '\\'"},
		{in: "a-b", err: "Character '-' is reserved and must be escaped with the preceding '\\'"},
		{in: "x > y", err: "Character '>' is reserved and must be escaped with the preceding '\\'"},
		{in: "a | b", err: "Character '|' is reserved and must be escaped with the preceding '\\'"},
		{in: "*open", err: "Can't find end of Bold entity at byte offset 0"},
		{in: "ok *bold _it* x_", err: "Can't find end of Italic entity at byte offset 15"},
		{in: `C:\path`, want: "C:path"},                                                            // data corrupted, not an error
		{in: `a\\.`, err: "Character '.' is reserved and must be escaped with the preceding '\\'"}, // "a\" + "." escaped without escaping the backslash
		{in: "[link](https://x", err: "Can't find end of a URL at byte offset 7"},
		{in: "__", err: "Can't find end of Underline entity at byte offset 0"},
	}
	for _, tt := range tests {
		got, err := ParseMarkdownV2(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseMarkdownV2(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMarkdownV2(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
