package config

import (
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// expand replaces a leading ~ with $HOME and $NAME or ${NAME} with the
// environment's value in a path-like value, the same for the daemon and for
// `vodwatchd check` (both load the configuration through here). "$$" is a
// literal "$". A variable that is not set stays as written, with a warning:
// $CREDENTIALS_DIRECTORY, for one, exists only in the service's environment.
func (d *decoder) expand(n *yaml.Node, field, s string) string {
	lookup := d.lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if s == "~" || strings.HasPrefix(s, "~/") {
		if home, ok := lookup("HOME"); ok && home != "" {
			s = home + s[1:]
		} else {
			d.warnf(d.resolve(n), field, "~ needs $HOME, which is not set; left as is")
		}
	}
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		name, raw := varAt(s[i+1:])
		switch {
		case raw == "$":
			b.WriteByte('$')
		case name == "":
			b.WriteByte('$')
			continue
		default:
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$" + raw)
				d.warnUnset(n, field, name)
			}
		}
		i += len(raw)
	}
	return b.String()
}

// varAt reads the variable after a "$": NAME or {NAME} (raw is what was
// consumed), or "$" for "$$".
func varAt(s string) (name, raw string) {
	if strings.HasPrefix(s, "$") {
		return "", "$"
	}
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 2 || !validVarName(s[1:end]) {
			return "", ""
		}
		return s[1:end], s[:end+1]
	}
	end := 0
	for end < len(s) && (s[end] == '_' || isAlnum(s[end])) {
		end++
	}
	if end == 0 || !validVarName(s[:end]) {
		return "", ""
	}
	return s[:end], s[:end]
}

func validVarName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '_' && !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (d *decoder) warnUnset(n *yaml.Node, field, name string) {
	if name == "CREDENTIALS_DIRECTORY" {
		d.warnf(d.resolve(n), field, "$CREDENTIALS_DIRECTORY is set by systemd for the service only (LoadCredential=), so it is left as is here; credentials: systemd:DIR reads the same files outside the unit too")
		return
	}
	d.warnf(d.resolve(n), field, "$%s is not set; left as is", name)
}
