package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds how many nodes a document may expand to through aliases.
const maxNodes = 200000

// decoder walks a yaml.Node tree, collecting every error it meets.
type decoder struct {
	lookup   func(string) (string, bool) // the environment for $VAR in paths (default os.LookupEnv)
	file     string
	dir      string
	errs     Errors
	warnings []string
	visited  int
}

func newDecoder(file, dir string) *decoder { return &decoder{file: file, dir: dir} }

func (d *decoder) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: d.file, Line: 1, Column: 1}
	}
	return Pos{File: d.file, Line: n.Line, Column: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Pos: d.pos(n), Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) warnf(n *yaml.Node, field, format string, args ...any) {
	e := FieldError{Pos: d.pos(n), Field: field, Msg: fmt.Sprintf(format, args...)}
	d.warnings = append(d.warnings, e.Error())
}

// sorted orders errors by position so they read like the file.
func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return es
}

// resolve follows aliases and counts nodes, so that alias bombs stop.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	d.visited++
	return n
}

func (d *decoder) tooBig(n *yaml.Node) bool {
	if d.visited > maxNodes {
		if len(d.errs) == 0 || d.errs[len(d.errs)-1].Msg != "document too large (aliases expand too far)" {
			d.errorf(n, "", "document too large (aliases expand too far)")
		}
		return true
	}
	return false
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unsupported node"
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func index(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// handler decodes the value of one key.
type handler func(n *yaml.Node, field string)

// pair is a key and its value node.
type pair struct{ key, val *yaml.Node }

// mapping decodes a mapping node key by key. It returns false when n is
// null (absent) or not a mapping (an error is recorded for the latter).
func (d *decoder) mapping(n *yaml.Node, field string, hs map[string]handler) bool {
	n = d.resolve(n)
	if isNull(n) || d.tooBig(n) {
		return false
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, field, "expected a mapping, got %s", kindName(n))
		return false
	}
	seen := map[string]bool{}
	for _, p := range d.pairs(n, field, 0) {
		key := p.key.Value
		if seen[key] {
			d.errorf(p.key, join(field, key), "duplicate key")
			continue
		}
		seen[key] = true
		h, ok := hs[key]
		if !ok {
			d.errorf(p.key, join(field, key), "unknown key%s (known keys: %s)", suggest(key, hs), known(hs))
			continue
		}
		h(p.val, join(field, key))
	}
	return true
}

// pairs lists a mapping's pairs, expanding YAML merge keys ("<<"): merged
// keys come first so that the mapping's own keys override them.
func (d *decoder) pairs(n *yaml.Node, field string, depth int) []pair {
	var merged, own []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, field, "keys must be plain strings")
			continue
		}
		if k.Tag == "!!merge" || (k.Value == "<<" && k.Tag != "!!str") {
			merged = append(merged, d.mergeSources(v, field, depth)...)
			continue
		}
		own = append(own, pair{k, v})
	}
	if len(merged) == 0 {
		return own
	}
	ownKeys := map[string]bool{}
	for _, p := range own {
		ownKeys[p.key.Value] = true
	}
	var out []pair
	seen := map[string]bool{}
	for _, p := range merged {
		if !ownKeys[p.key.Value] && !seen[p.key.Value] {
			seen[p.key.Value] = true
			out = append(out, p)
		}
	}
	return append(out, own...)
}

func (d *decoder) mergeSources(v *yaml.Node, field string, depth int) []pair {
	v = d.resolve(v)
	if depth > 10 || d.tooBig(v) {
		d.errorf(v, field, "merge keys nested too deep")
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, field, depth+1)
	case yaml.SequenceNode:
		var out []pair
		for _, m := range v.Content {
			m = d.resolve(m)
			if m.Kind != yaml.MappingNode {
				d.errorf(m, field, "merge key (<<) needs mappings, got %s", kindName(m))
				continue
			}
			out = append(out, d.pairs(m, field, depth+1)...)
		}
		return out
	}
	d.errorf(v, field, "merge key (<<) needs a mapping, got %s", kindName(v))
	return nil
}

func known(hs map[string]handler) string {
	keys := make([]string, 0, len(hs))
	for k := range hs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// suggest names a known key close to a misspelt one.
func suggest(key string, hs map[string]handler) string {
	names := make([]string, 0, len(hs))
	for k := range hs {
		names = append(names, k)
	}
	return suggestFrom(key, names)
}

// suggestFrom names the closest of names to key (at most 2 edits), as
// " (did you mean "x"?)", or "" when none is that close.
func suggestFrom(key string, names []string) string {
	best, bestD := "", 3
	for _, k := range names {
		if dist := editDistance(strings.ToLower(key), k); dist < bestD || (dist == bestD && k < best && best != "") {
			best, bestD = k, dist
		}
	}
	if best == "" || bestD > 2 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// sequence decodes each item of a list node.
func (d *decoder) sequence(n *yaml.Node, field string, each func(i int, item *yaml.Node, field string)) bool {
	n = d.resolve(n)
	if isNull(n) || d.tooBig(n) {
		return false
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, field, "expected a list, got %s", kindName(n))
		return false
	}
	for i, item := range n.Content {
		each(i, d.resolve(item), index(field, i))
	}
	return true
}

// scalar returns a non-null scalar's text, recording an error otherwise.
func (d *decoder) scalar(n *yaml.Node, field, what string) (string, bool) {
	n = d.resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, field, "expected %s, got %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// conv turns a value node into a T, recording errors itself.
type conv[T any] func(d *decoder, n *yaml.Node, field string) (T, bool)

// set returns a handler that stores a converted value into *dst. A null
// value leaves *dst untouched.
func set[T any](d *decoder, dst *T, c conv[T]) handler {
	return func(n *yaml.Node, field string) {
		if isNull(d.resolve(n)) {
			return
		}
		if v, ok := c(d, n, field); ok {
			*dst = v
		}
	}
}

// setPtr is set for optional layered values: *dst becomes non-nil.
func setPtr[T any](d *decoder, dst **T, c conv[T]) handler {
	return func(n *yaml.Node, field string) {
		if isNull(d.resolve(n)) {
			return
		}
		if v, ok := c(d, n, field); ok {
			*dst = &v
		}
	}
}

func cString(d *decoder, n *yaml.Node, field string) (string, bool) {
	return d.scalar(n, field, "a string")
}

var intRe = regexp.MustCompile(`^[-+]?(0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|0o[0-7_]+)$`)

func parseInt(s string) (int64, error) {
	if !intRe.MatchString(s) {
		return 0, fmt.Errorf("not an integer")
	}
	return strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
}

// cInt64 accepts any integer.
func cInt64(d *decoder, n *yaml.Node, field string) (int64, bool) {
	s, ok := d.scalar(n, field, "an integer")
	if !ok {
		return 0, false
	}
	v, err := parseInt(s)
	if err != nil {
		d.errorf(d.resolve(n), field, "bad integer %q", s)
		return 0, false
	}
	return v, true
}

// cNonNeg64 accepts integers >= 0.
func cNonNeg64(d *decoder, n *yaml.Node, field string) (int64, bool) {
	v, ok := cInt64(d, n, field)
	if ok && v < 0 {
		d.errorf(d.resolve(n), field, "must not be negative, got %d", v)
		return 0, false
	}
	return v, ok
}

const maxSmallInt = 1 << 20

// cCount accepts integers 0..1048576 (workers, parts, attempts).
func cCount(d *decoder, n *yaml.Node, field string) (int, bool) {
	v, ok := cNonNeg64(d, n, field)
	if ok && v > maxSmallInt {
		d.errorf(d.resolve(n), field, "too large: %d (at most %d)", v, maxSmallInt)
		return 0, false
	}
	return int(v), ok
}

// cPriority accepts any integer in ±1e6.
func cPriority(d *decoder, n *yaml.Node, field string) (int, bool) {
	v, ok := cInt64(d, n, field)
	if ok && (v > 1e6 || v < -1e6) {
		d.errorf(d.resolve(n), field, "out of range: %d (-1000000..1000000)", v)
		return 0, false
	}
	return int(v), ok
}

func cUint64(d *decoder, n *yaml.Node, field string) (uint64, bool) {
	s, ok := d.scalar(n, field, "an integer")
	if !ok {
		return 0, false
	}
	if strings.HasPrefix(s, "-") {
		d.errorf(d.resolve(n), field, "must not be negative, got %s", s)
		return 0, false
	}
	v, err := strconv.ParseUint(strings.ReplaceAll(strings.TrimPrefix(s, "+"), "_", ""), 10, 64)
	if err != nil {
		d.errorf(d.resolve(n), field, "bad integer %q", s)
		return 0, false
	}
	return v, true
}

func cFloatRate(d *decoder, n *yaml.Node, field string) (float64, bool) {
	s, ok := d.scalar(n, field, "a number")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v != v {
		d.errorf(d.resolve(n), field, "bad number %q", s)
		return 0, false
	}
	if v < 0 || v > 1e6 {
		d.errorf(d.resolve(n), field, "out of range: %s (0..1000000, 0 = unlimited)", s)
		return 0, false
	}
	return v, true
}

func cBool(d *decoder, n *yaml.Node, field string) (bool, bool) {
	s, ok := d.scalar(n, field, "true or false")
	if !ok {
		return false, false
	}
	switch s {
	case "true", "True", "TRUE", "yes", "on":
		return true, true
	case "false", "False", "FALSE", "no", "off":
		return false, true
	}
	d.errorf(d.resolve(n), field, "expected true or false, got %q", s)
	return false, false
}

// cStrings accepts a list of strings.
func cStrings(d *decoder, n *yaml.Node, field string) ([]string, bool) {
	out := []string{}
	okAll := true
	isList := d.sequence(n, field, func(_ int, item *yaml.Node, f string) {
		s, ok := cString(d, item, f)
		okAll = okAll && ok
		out = append(out, s)
	})
	return out, isList && okAll
}

// enum returns a converter that accepts one of the given words.
func enum[T ~string](words ...T) conv[T] {
	return func(d *decoder, n *yaml.Node, field string) (T, bool) {
		s, ok := d.scalar(n, field, "a string")
		if !ok {
			return "", false
		}
		for _, w := range words {
			if string(w) == s {
				return w, true
			}
		}
		list := make([]string, len(words))
		for i, w := range words {
			list[i] = string(w)
		}
		d.errorf(d.resolve(n), field, "bad value %q (one of: %s)", s, strings.Join(list, ", "))
		return "", false
	}
}
