package config

import (
	"reflect"
	"strings"
	"time"
	"unicode"
)

// maxDiff bounds the changes Diff names.
const maxDiff = 30

// Diff names what differs between two configurations as key paths, for a
// reload's log line: "upload.bandwidth", "watch[/srv/drop].settle",
// "watch[/srv/drop].rules[news].procedure", "watch[/srv/new] added". Values
// are never included (they may be secrets).
func Diff(old, cur *Config) []string {
	d := &differ{}
	d.fields("", reflect.ValueOf(*old), reflect.ValueOf(*cur), "File", "Dir", "Warnings", "Watch")
	oldW, curW := map[string]*Watch{}, map[string]*Watch{}
	for i := range old.Watch {
		oldW[old.Watch[i].Path] = &old.Watch[i]
	}
	for i := range cur.Watch {
		w := &cur.Watch[i]
		curW[w.Path] = w
		o, ok := oldW[w.Path]
		key := "watch[" + w.Path + "]"
		if !ok {
			d.add(key + " added")
			continue
		}
		d.fields(key, reflect.ValueOf(*o), reflect.ValueOf(*w), "Pos", "Rules")
		d.rules(key, o.Rules, w.Rules)
	}
	for _, w := range old.Watch {
		if curW[w.Path] == nil {
			d.add("watch[" + w.Path + "] removed")
		}
	}
	return d.out
}

type differ struct{ out []string }

func (d *differ) add(s string) {
	switch {
	case len(d.out) < maxDiff:
		d.out = append(d.out, s)
	case len(d.out) == maxDiff:
		d.out = append(d.out, "...")
	}
}

func (d *differ) rules(key string, old, cur []Rule) {
	names := func(rs []Rule) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.Name
		}
		return out
	}
	if !reflect.DeepEqual(names(old), names(cur)) {
		d.add(key + ".rules (" + strings.Join(names(old), ",") + " -> " + strings.Join(names(cur), ",") + ")")
		return
	}
	for i := range cur {
		d.fields(key+".rules["+cur[i].Name+"]", reflect.ValueOf(old[i]), reflect.ValueOf(cur[i]), "Pos", "Field", "Name")
	}
}

// fields compares the exported fields of two structs of one type.
func (d *differ) fields(prefix string, a, b reflect.Value, skip ...string) {
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() || contains(skip, f.Name) {
			continue
		}
		name := snake(f.Name)
		if k, ok := keyOf[f.Name]; ok {
			name = k
		}
		d.value(join(prefix, name), a.Field(i), b.Field(i))
	}
}

// keyOf names the fields whose key is not their snake_case name.
var keyOf = map[string]string{"Compact": "compact_after", "Quarantine": "quarantine"}

var (
	templateType = reflect.TypeOf((*Template)(nil))
	timeType     = reflect.TypeOf(time.Time{})
)

func (d *differ) value(key string, a, b reflect.Value) {
	switch {
	case a.Type() == templateType:
		if srcOf(a) != srcOf(b) {
			d.add(key)
		}
	case a.Type() == timeType:
		if !a.Interface().(time.Time).Equal(b.Interface().(time.Time)) {
			d.add(key)
		}
	case a.Kind() == reflect.Struct:
		d.fields(key, a, b, "Pos")
	case !reflect.DeepEqual(a.Interface(), b.Interface()):
		d.add(key)
	}
}

func srcOf(v reflect.Value) string {
	if v.IsNil() {
		return "\x00nil"
	}
	return v.Interface().(*Template).Src
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// snake turns a Go field name into its configuration key: SubAppID ->
// sub_app_id, COSEndpoint -> cos_endpoint.
func snake(name string) string {
	var b strings.Builder
	rs := []rune(name)
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
