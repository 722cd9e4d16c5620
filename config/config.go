// Package config loads storefence's YAML files: defaults first, then a strict
// decode in which an unknown or duplicate key is an error, then validation.
// Every error names the file, the line and the key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is a problem with one key of one configuration file.
type Error struct {
	File   string
	Line   int    // 0 when unknown
	Key    string // dotted path such as public_ip.providers[1].type; empty for the whole file
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Reason)
	return b.String()
}

// Document is a decoded YAML file kept for locating keys in later errors.
type Document struct {
	file string
	root *yaml.Node
}

// validator is a configuration that checks itself.
type validator[T any] interface {
	*T
	Validate() error
}

// load reads path over the defaults def and validates the result, locating
// every validation error in the file.
func load[T any, P validator[T]](path string, def T) (*T, error) {
	cfg := def
	doc, err := ReadFile(path, &cfg)
	if err != nil {
		return nil, err
	}
	if err := doc.Wrap(P(&cfg).Validate()); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// ReadFile reads a YAML file into v strictly; see Decode.
func ReadFile(path string, v any) (*Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Decode(path, data, v)
}

// Decode decodes one YAML document from data into v, which should already
// hold the defaults. Keys missing from the file keep their defaults; keys
// that v has no field for, duplicate keys and values of the wrong type are
// errors. An empty document leaves v as it was.
func Decode(file string, data []byte, v any) (*Document, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(file, err)
	}
	doc := &Document{file: file, root: &root}
	if len(root.Content) == 0 {
		return doc, nil
	}
	if err := checkKeys(file, root.Content[0], reflect.TypeOf(v), ""); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(file, err)
	}
	return doc, nil
}

// Errorf returns an *Error for key, with the line where key stands in the
// file (or its nearest parent that does).
func (d *Document) Errorf(key, format string, args ...any) *Error {
	return &Error{File: d.file, Line: d.line(key), Key: key, Reason: fmt.Sprintf(format, args...)}
}

// Wrap turns a *FieldError-like validation error into an *Error located in d.
// Errors joined with errors.Join are each located.
func (d *Document) Wrap(err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, d.Wrap(e))
		}
		return errors.Join(out...)
	}
	var ke *KeyError
	if errors.As(err, &ke) {
		return d.Errorf(ke.Key, "%s", ke.Reason)
	}
	return &Error{File: d.file, Reason: err.Error()}
}

// KeyError is a validation failure of one key, before it is located in a file.
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Reason }

// Keyf returns a *KeyError.
func Keyf(key, format string, args ...any) error {
	return &KeyError{Key: key, Reason: fmt.Sprintf(format, args...)}
}

var indexRE = regexp.MustCompile(`^(.*)\[(\d+)\]$`)

// line finds the line of a dotted key path, falling back to the parent.
func (d *Document) line(key string) int {
	if d.root == nil || len(d.root.Content) == 0 {
		return 0
	}
	n := d.root.Content[0]
	best := 0
	for _, part := range strings.Split(key, ".") {
		idx := -1
		if m := indexRE.FindStringSubmatch(part); m != nil {
			part = m[1]
			idx, _ = strconv.Atoi(m[2])
		}
		if n.Kind != yaml.MappingNode {
			return best
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				best = n.Content[i].Line
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			return best
		}
		n = next
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return best
			}
			n = n.Content[idx]
			best = n.Line
		}
	}
	return best
}

// checkKeys walks a mapping node beside the Go type it decodes into and
// reports the first key the type has no field for, with its full path.
// yaml.v3's own KnownFields error gives the line but not the path.
func checkKeys(file string, n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				return &Error{File: file, Line: k.Line, Key: join(path, k.Value), Reason: "unknown key"}
			}
			if err := checkKeys(file, val, ft, join(path, k.Value)); err != nil {
				return err
			}
		}
	case n.Kind == yaml.SequenceNode && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		for i, c := range n.Content {
			if err := checkKeys(file, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkKeys(file, n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	}
	return nil
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns yaml.v3's errors into *Error values with a line.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var out []error
	for _, m := range msgs {
		e := &Error{File: file, Reason: strings.TrimPrefix(m, "yaml: ")}
		if sm := lineRE.FindStringSubmatch(strings.TrimSpace(e.Reason)); sm != nil {
			e.Line, _ = strconv.Atoi(sm[1])
			e.Reason = sm[2]
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}
