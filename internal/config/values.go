package config

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"gopkg.in/yaml.v3"
)

// ParseDuration parses a Go duration ("90s", "1h30m") that may also start
// with whole days ("30d", "1d12h"). Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty")
	}
	if t == "0" {
		return 0, nil
	}
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("must not be negative")
	}
	var days int64
	if i := strings.IndexByte(t, 'd'); i > 0 {
		n, err := strconv.ParseInt(t[:i], 10, 64)
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("bad day count %q", t[:i])
		}
		days, t = n, t[i+1:]
	}
	var rest time.Duration
	if t != "" {
		v, err := time.ParseDuration(t)
		if err != nil {
			return 0, fmt.Errorf("use a number with a unit: ns, us, ms, s, m, h, d (e.g. 90s, 5m, 30d)")
		}
		if v < 0 {
			return 0, fmt.Errorf("must not be negative")
		}
		rest = v
	}
	total := time.Duration(days)*24*time.Hour + rest
	if total < rest {
		return 0, fmt.Errorf("too long")
	}
	return total, nil
}

func cDuration(d *decoder, n *yaml.Node, field string) (time.Duration, bool) {
	s, ok := d.scalar(n, field, "a duration")
	if !ok {
		return 0, false
	}
	v, err := ParseDuration(s)
	if err != nil {
		d.errorf(d.resolve(n), field, "bad duration %q: %v", s, err)
		return 0, false
	}
	return v, true
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// splitNumber splits "8MiB" into 8 and "mib".
func splitNumber(s string) (float64, string, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	if i == 0 {
		return 0, "", fmt.Errorf("no number")
	}
	v, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, "", fmt.Errorf("bad number %q", s[:i])
	}
	return v, strings.ToLower(strings.TrimSpace(s[i:])), nil
}

// ParseSize parses a byte size: plain bytes ("1048576") or a number with
// a unit: B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB (powers of 1024).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("must not be negative")
	}
	v, unit, err := splitNumber(t)
	if err != nil {
		return 0, fmt.Errorf("%v (use e.g. 8MiB, 512KiB, 1GiB or plain bytes)", err)
	}
	mul, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", unit)
	}
	b := v * mul
	if b >= math.MaxInt64/2 {
		return 0, fmt.Errorf("too large")
	}
	if b != math.Trunc(b) {
		return 0, fmt.Errorf("not a whole number of bytes")
	}
	return int64(b), nil
}

func cSize(d *decoder, n *yaml.Node, field string) (int64, bool) {
	s, ok := d.scalar(n, field, "a size")
	if !ok {
		return 0, false
	}
	v, err := ParseSize(s)
	if err != nil {
		d.errorf(d.resolve(n), field, "bad size %q: %v", s, err)
		return 0, false
	}
	return v, true
}

var bitUnits = map[string]float64{
	"bit": 1.0 / 8, "kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8,
	"kibit": 1024.0 / 8, "mibit": (1 << 20) / 8.0, "gibit": (1 << 30) / 8.0,
	"bps": 1.0 / 8, "kbps": 1e3 / 8, "mbps": 1e6 / 8, "gbps": 1e9 / 8,
}

// ParseRate parses a transfer rate in bytes per second: "50MiB/s",
// "400Mbit/s", "100Mbps", plain bytes per second, or "0"/"unlimited" (0).
func ParseRate(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "0" || strings.EqualFold(t, "unlimited") || strings.EqualFold(t, "off") {
		return 0, nil
	}
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("must not be negative")
	}
	v, unit, err := splitNumber(t)
	if err != nil {
		return 0, fmt.Errorf("%v (use e.g. 50MiB/s, 400Mbit/s, 0 = unlimited)", err)
	}
	unit = strings.TrimSuffix(unit, "/s")
	mul, ok := bitUnits[unit]
	if !ok {
		if mul, ok = sizeUnits[unit]; !ok {
			return 0, fmt.Errorf("unknown unit %q (use e.g. MiB/s, MB/s, Mbit/s, Gbit/s)", unit)
		}
	}
	b := math.Round(v * mul)
	if b >= math.MaxInt64/2 {
		return 0, fmt.Errorf("too large")
	}
	if b < 1 && v > 0 {
		return 0, fmt.Errorf("below 1 byte per second")
	}
	return int64(b), nil
}

func cRate(d *decoder, n *yaml.Node, field string) (int64, bool) {
	s, ok := d.scalar(n, field, "a rate")
	if !ok {
		return 0, false
	}
	v, err := ParseRate(s)
	if err != nil {
		d.errorf(d.resolve(n), field, "bad rate %q: %v", s, err)
		return 0, false
	}
	return v, true
}

// regions are the Tencent Cloud regions VOD (API access and storage) knows.
var regions = map[string]bool{
	"ap-guangzhou": true, "ap-shanghai": true, "ap-beijing": true, "ap-chengdu": true,
	"ap-chongqing": true, "ap-nanjing": true, "ap-hongkong": true, "ap-singapore": true,
	"ap-tokyo": true, "ap-seoul": true, "ap-bangkok": true, "ap-mumbai": true,
	"ap-jakarta": true, "na-siliconvalley": true, "na-ashburn": true, "na-toronto": true,
	"eu-frankfurt": true, "eu-moscow": true, "sa-saopaulo": true,
	"ap-shanghai-fsi": true, "ap-shenzhen-fsi": true, "ap-beijing-fsi": true,
	"ap-taipei": true, "ap-shanghai-adc": true,
}

// Regions lists the region names the configuration accepts, sorted.
func Regions() []string {
	out := make([]string, 0, len(regions))
	for r := range regions {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func cRegion(d *decoder, n *yaml.Node, field string) (string, bool) {
	s, ok := d.scalar(n, field, "a region")
	if !ok {
		return "", false
	}
	if !regions[s] {
		if hint := suggestFrom(s, Regions()); hint != "" {
			d.errorf(d.resolve(n), field, "unknown region %q%s", s, hint)
			return "", false
		}
		d.errorf(d.resolve(n), field, "unknown region %q (known: %s)", s, strings.Join(Regions(), ", "))
		return "", false
	}
	return s, true
}

// cPath resolves a path against the configuration file's folder.
func cPath(d *decoder, n *yaml.Node, field string) (string, bool) {
	s, ok := d.scalar(n, field, "a path")
	if !ok {
		return "", false
	}
	if s == "" || strings.ContainsRune(s, 0) {
		d.errorf(d.resolve(n), field, "bad path %q", s)
		return "", false
	}
	return d.abs(d.expand(n, field, s)), true
}

func (d *decoder) abs(p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.dir, p)
	}
	return filepath.Clean(p)
}

// cGlob accepts a doublestar pattern over slash paths.
func cGlob(d *decoder, n *yaml.Node, field string) (string, bool) {
	s, ok := d.scalar(n, field, "a glob")
	if !ok {
		return "", false
	}
	if s == "" || !doublestar.ValidatePattern(s) {
		d.errorf(d.resolve(n), field, "bad glob %q (unclosed [ or {, or a trailing \\)", s)
		return "", false
	}
	if strings.HasPrefix(s, "/") {
		d.errorf(d.resolve(n), field, "bad glob %q: patterns are relative to the watch root, drop the leading /", s)
		return "", false
	}
	return s, true
}

// ParseExpireTime parses an ISO 8601 time: RFC 3339 ("2026-01-31T00:00:00Z",
// "2026-01-31T08:00:00+08:00") or a date ("2026-01-31", midnight UTC).
func ParseExpireTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("use ISO 8601, e.g. 2026-12-31T23:59:59Z, 2026-12-31T23:59:59+08:00 or 2026-12-31")
}

func cExpireTime(d *decoder, n *yaml.Node, field string) (time.Time, bool) {
	s, ok := d.scalar(n, field, "an ISO 8601 time")
	if !ok {
		return time.Time{}, false
	}
	t, err := ParseExpireTime(s)
	if err != nil {
		d.errorf(d.resolve(n), field, "bad time %q: %v", s, err)
		return time.Time{}, false
	}
	return t, true
}

// cSuffixes accepts the cover suffix list.
func cSuffixes(d *decoder, n *yaml.Node, field string) ([]string, bool) {
	list, ok := cStrings(d, n, field)
	if !ok {
		return nil, false
	}
	for i, s := range list {
		if s == "" || strings.ContainsAny(s, "/\\\x00") {
			d.errorf(d.resolve(d.resolve(n).Content[i]), index(field, i), "bad cover suffix %q (a file name ending such as .jpg or -cover.png)", s)
			ok = false
		}
	}
	return list, ok
}

// cMediaType accepts a VOD media type word such as mp4 or m3u8.
func cMediaType(d *decoder, n *yaml.Node, field string) (string, bool) {
	s, ok := d.scalar(n, field, "a media type")
	if !ok {
		return "", false
	}
	t := strings.ToLower(strings.TrimPrefix(s, "."))
	if t == "" || len(t) > 16 || strings.Trim(t, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		d.errorf(d.resolve(n), field, "bad media type %q (a file extension such as mp4, mov, m3u8, mp3)", s)
		return "", false
	}
	return t, true
}

// cListen accepts host:port, or "" / "off" for no listener.
func cListen(d *decoder, n *yaml.Node, field string) (string, bool) {
	s, ok := d.scalar(n, field, "host:port")
	if !ok {
		return "", false
	}
	if s == "" || s == "off" {
		return "", true
	}
	host, _, err := splitHostPort(s)
	if err != nil {
		d.errorf(d.resolve(n), field, "bad address %q: %v (use e.g. 127.0.0.1:9180, or off)", s, err)
		return "", false
	}
	if !isLoopback(host) {
		d.warnf(d.resolve(n), field, "listening on %s exposes /metrics beyond this machine", s)
	}
	return s, true
}
