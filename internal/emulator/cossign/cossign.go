// Package cossign signs and verifies COS XML API request signatures (q-sign, HMAC-SHA1).
package cossign

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Algorithm is the only q-sign-algorithm COS accepts.
const Algorithm = "sha1"

// Auth is a parsed COS Authorization value.
type Auth struct {
	Algorithm string   // q-sign-algorithm
	SecretID  string   // q-ak
	SignTime  string   // q-sign-time, "start;end" in Unix seconds
	KeyTime   string   // q-key-time, "start;end" in Unix seconds
	Headers   []string // q-header-list, lower-case names
	Params    []string // q-url-param-list, lower-case names
	Signature string   // q-signature, lower-case hex
}

// Pair is one header or URL parameter as it enters the string to sign.
type Pair struct{ Key, Value string }

// Canonical is the part of a request that the signature covers.
type Canonical struct {
	Method  string // HTTP method, any case
	Path    string // decoded URL path, e.g. "/exampleobject(腾讯云)"
	Params  []Pair // signed URL parameters (raw, not encoded)
	Headers []Pair // signed headers (raw, not encoded)
}

// Errors returned by Verify and CheckTime; match them with errors.Is.
var (
	ErrMalformed     = errors.New("malformed COS authorization")
	ErrSignature     = errors.New("COS signature does not match")
	ErrExpired       = errors.New("COS signature has expired")
	ErrNotYetValid   = errors.New("COS signature is not valid yet")
	ErrNoCredentials = errors.New("no COS authorization")
)

// ParseAuthorization parses an Authorization header value. It splits on "&"
// and on the first "=" of each part, so values holding ";" or "=" survive.
func ParseAuthorization(v string) (Auth, error) {
	if strings.TrimSpace(v) == "" {
		return Auth{}, ErrNoCredentials
	}
	var a Auth
	seen := map[string]bool{}
	for _, part := range strings.Split(v, "&") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return Auth{}, fmt.Errorf("%w: part %q has no '='", ErrMalformed, part)
		}
		k = strings.TrimSpace(k)
		if seen[k] {
			return Auth{}, fmt.Errorf("%w: %s given twice", ErrMalformed, k)
		}
		seen[k] = true
		if err := a.set(k, val); err != nil {
			return Auth{}, err
		}
	}
	return a, a.validate()
}

func (a *Auth) set(k, val string) error {
	switch k {
	case "q-sign-algorithm":
		a.Algorithm = val
	case "q-ak":
		a.SecretID = val
	case "q-sign-time":
		a.SignTime = val
	case "q-key-time":
		a.KeyTime = val
	case "q-header-list":
		a.Headers = splitList(val)
	case "q-url-param-list":
		a.Params = splitList(val)
	case "q-signature":
		a.Signature = val
	default:
		return fmt.Errorf("%w: unknown field %q", ErrMalformed, k)
	}
	return nil
}

func splitList(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ";")
}

func (a Auth) validate() error {
	switch {
	case a.Algorithm != Algorithm:
		return fmt.Errorf("%w: q-sign-algorithm %q is not %q", ErrMalformed, a.Algorithm, Algorithm)
	case a.SecretID == "":
		return fmt.Errorf("%w: q-ak is empty", ErrMalformed)
	case a.Signature == "":
		return fmt.Errorf("%w: q-signature is empty", ErrMalformed)
	}
	if _, _, err := ParseTimeRange(a.SignTime); err != nil {
		return fmt.Errorf("%w: q-sign-time: %v", ErrMalformed, err)
	}
	if _, _, err := ParseTimeRange(a.KeyTime); err != nil {
		return fmt.Errorf("%w: q-key-time: %v", ErrMalformed, err)
	}
	return nil
}

// String formats a as an Authorization header value.
func (a Auth) String() string {
	return strings.Join([]string{
		"q-sign-algorithm=" + a.Algorithm,
		"q-ak=" + a.SecretID,
		"q-sign-time=" + a.SignTime,
		"q-key-time=" + a.KeyTime,
		"q-header-list=" + strings.Join(a.Headers, ";"),
		"q-url-param-list=" + strings.Join(a.Params, ";"),
		"q-signature=" + a.Signature,
	}, "&")
}

// ParseTimeRange parses "start;end" Unix seconds with start <= end.
func ParseTimeRange(v string) (start, end time.Time, err error) {
	s, e, ok := strings.Cut(v, ";")
	if !ok {
		return time.Time{}, time.Time{}, fmt.Errorf("%q is not start;end", v)
	}
	si, err1 := strconv.ParseInt(s, 10, 64)
	ei, err2 := strconv.ParseInt(e, 10, 64)
	if err1 != nil || err2 != nil || si < 0 || ei < si {
		return time.Time{}, time.Time{}, fmt.Errorf("%q is not a valid start;end range", v)
	}
	return time.Unix(si, 0), time.Unix(ei, 0), nil
}

// FormatTimeRange formats a q-sign-time / q-key-time value.
func FormatTimeRange(start, end time.Time) string {
	return strconv.FormatInt(start.Unix(), 10) + ";" + strconv.FormatInt(end.Unix(), 10)
}

// SignKey is HMAC-SHA1(secretKey, keyTime) in lower-case hex.
func SignKey(secretKey, keyTime string) string {
	return hmacHex(secretKey, keyTime)
}

// HTTPString builds the HttpString of the COS signature algorithm.
func HTTPString(c Canonical) string {
	_, params := encodePairs(c.Params)
	_, headers := encodePairs(c.Headers)
	return strings.ToLower(c.Method) + "\n" + c.Path + "\n" + params + "\n" + headers + "\n"
}

// StringToSign builds "sha1\n<keyTime>\n<sha1hex(httpString)>\n".
func StringToSign(keyTime, httpString string) string {
	sum := sha1.Sum([]byte(httpString))
	return Algorithm + "\n" + keyTime + "\n" + hex.EncodeToString(sum[:]) + "\n"
}

// Signature computes q-signature for c with the given secret key and key time.
func Signature(secretKey, keyTime string, c Canonical) string {
	return hmacHex(SignKey(secretKey, keyTime), StringToSign(keyTime, HTTPString(c)))
}

// Sign returns the Authorization for c, valid from start to end.
func Sign(secretID, secretKey string, start, end time.Time, c Canonical) Auth {
	tr := FormatTimeRange(start, end)
	hl, _ := encodePairs(c.Headers)
	pl, _ := encodePairs(c.Params)
	return Auth{
		Algorithm: Algorithm, SecretID: secretID, SignTime: tr, KeyTime: tr,
		Headers: hl, Params: pl, Signature: Signature(secretKey, tr, c),
	}
}

// encodePairs URL-encodes and lower-cases keys, encodes values, sorts, and
// returns the sorted key list and the "k=v&k=v" form.
func encodePairs(ps []Pair) (keys []string, joined string) {
	enc := make([]Pair, len(ps))
	for i, p := range ps {
		enc[i] = Pair{strings.ToLower(Escape(p.Key)), Escape(p.Value)}
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].Key != enc[j].Key {
			return enc[i].Key < enc[j].Key
		}
		return enc[i].Value < enc[j].Value
	})
	parts := make([]string, len(enc))
	keys = make([]string, len(enc))
	for i, p := range enc {
		keys[i] = p.Key
		parts[i] = p.Key + "=" + p.Value
	}
	return keys, strings.Join(parts, "&")
}

// Escape percent-encodes everything but A-Z a-z 0-9 - _ . ~ (upper-case hex,
// space as %20), as COS's signature rules require.
func Escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

func hmacHex(key, msg string) string {
	h := hmac.New(sha1.New, []byte(key))
	h.Write([]byte(msg))
	return hex.EncodeToString(h.Sum(nil))
}

// CanonicalFromRequest collects what a signs from an incoming server-side
// request: the listed headers ("host" is read from r.Host) and URL parameters.
// A listed header that is absent is signed as an empty value.
func CanonicalFromRequest(r *http.Request, a Auth) Canonical {
	c := Canonical{Method: r.Method, Path: r.URL.Path}
	for _, name := range dedupe(a.Headers) {
		c.Headers = append(c.Headers, headerPairs(r, name)...)
	}
	wanted := map[string]bool{}
	for _, p := range a.Params {
		wanted[p] = true
	}
	for k, vs := range r.URL.Query() {
		if !wanted[strings.ToLower(Escape(k))] {
			continue
		}
		for _, v := range vs {
			c.Params = append(c.Params, Pair{k, v})
		}
	}
	return c
}

func headerPairs(r *http.Request, name string) []Pair {
	if name == "host" {
		return []Pair{{name, r.Host}}
	}
	vs := r.Header.Values(name)
	if len(vs) == 0 {
		return []Pair{{name, ""}}
	}
	ps := make([]Pair, len(vs))
	for i, v := range vs {
		ps[i] = Pair{name, v}
	}
	return ps
}

func dedupe(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		n = strings.ToLower(n)
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Verify checks a's signature over r with secretKey. It does not check time;
// see CheckTime.
func Verify(r *http.Request, a Auth, secretKey string) error {
	want := Signature(secretKey, a.KeyTime, CanonicalFromRequest(r, a))
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(a.Signature))) != 1 {
		return ErrSignature
	}
	return nil
}

// CheckTime reports whether now lies within a's q-sign-time and q-key-time
// windows, allowing skew for a start time in the future.
func CheckTime(a Auth, now time.Time, skew time.Duration) error {
	for _, v := range []string{a.SignTime, a.KeyTime} {
		start, end, err := ParseTimeRange(v)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if now.After(end) {
			return ErrExpired
		}
		if now.Add(skew).Before(start) {
			return ErrNotYetValid
		}
	}
	return nil
}

// SignRequest signs an outgoing request the way cos-go-sdk-v5 does: host,
// Content-*, x-cos-* and the other standard headers, and every URL parameter.
// It sets the Authorization header (and x-cos-security-token when token is set).
func SignRequest(r *http.Request, secretID, secretKey, token string, start, end time.Time) {
	if token != "" {
		r.Header.Set("x-cos-security-token", token)
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	c := Canonical{Method: r.Method, Path: r.URL.Path, Headers: []Pair{{"host", host}}}
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if lk == "host" || lk == "authorization" || !signedByDefault(lk) {
			continue
		}
		for _, v := range vs {
			c.Headers = append(c.Headers, Pair{lk, v})
		}
	}
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			c.Params = append(c.Params, Pair{k, v})
		}
	}
	r.Header.Set("Authorization", Sign(secretID, secretKey, start, end, c).String())
}

func signedByDefault(lk string) bool {
	switch lk {
	case "content-type", "content-length", "content-md5", "content-disposition",
		"content-encoding", "cache-control", "expires", "range", "if-match",
		"if-none-match", "if-modified-since", "if-unmodified-since", "origin":
		return true
	}
	return strings.HasPrefix(lk, "x-cos-")
}
