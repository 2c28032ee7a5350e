// Package tc3 signs and verifies Tencent Cloud API 3.0 requests
// (the TC3-HMAC-SHA256 signature method).
package tc3

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Algorithm is the only signature algorithm of API 3.0 signature v3.
const Algorithm = "TC3-HMAC-SHA256"

// UnsignedPayload is the X-TC-Content-SHA256 value that asks the server to
// hash this literal instead of the body.
const UnsignedPayload = "UNSIGNED-PAYLOAD"

// Header is one signed header: lower-case name and its value (the canonical
// form lower-cases and trims the value).
type Header struct {
	Name, Value string
}

// Input is everything a TC3 signature covers.
type Input struct {
	Method      string   // "POST" or "GET"
	URI         string   // canonical URI, "/" for API 3.0
	Query       string   // canonical query string ("" for POST)
	Headers     []Header // the signed headers, in the order they are signed
	PayloadHash string   // lower-case hex SHA-256 of the body
	Timestamp   int64    // X-TC-Timestamp, Unix seconds
	Service     string   // e.g. "vod"
}

// HashPayload returns the lower-case hex SHA-256 of b.
func HashPayload(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Date is the UTC date (2006-01-02) of the timestamp, as used in the scope.
func Date(timestamp int64) string {
	return time.Unix(timestamp, 0).UTC().Format("2006-01-02")
}

// Scope is the credential scope: date/service/tc3_request.
func (in Input) Scope() string {
	return Date(in.Timestamp) + "/" + in.Service + "/tc3_request"
}

// SignedHeaders is the ";"-joined list of the signed header names.
func (in Input) SignedHeaders() string {
	names := make([]string, len(in.Headers))
	for i, h := range in.Headers {
		names[i] = h.Name
	}
	return strings.Join(names, ";")
}

// CanonicalRequest is the text whose hash the string to sign carries.
func (in Input) CanonicalRequest() string {
	var hs strings.Builder
	for _, h := range in.Headers {
		hs.WriteString(h.Name)
		hs.WriteByte(':')
		hs.WriteString(strings.ToLower(strings.TrimSpace(h.Value)))
		hs.WriteByte('\n')
	}
	return strings.Join([]string{in.Method, in.URI, in.Query, hs.String(), in.SignedHeaders(), in.PayloadHash}, "\n")
}

// StringToSign is the text that the derived key signs.
func (in Input) StringToSign() string {
	return fmt.Sprintf("%s\n%d\n%s\n%s", Algorithm, in.Timestamp, in.Scope(), HashPayload([]byte(in.CanonicalRequest())))
}

// Signature returns the lower-case hex signature of in with secretKey.
func Signature(secretKey string, in Input) string {
	k := mac([]byte("TC3"+secretKey), Date(in.Timestamp))
	k = mac(k, in.Service)
	k = mac(k, "tc3_request")
	return hex.EncodeToString(mac(k, in.StringToSign()))
}

// Sign returns the Authorization header value for in.
func Sign(secretID, secretKey string, in Input) string {
	return Authorization{
		SecretID:      secretID,
		Date:          Date(in.Timestamp),
		Service:       in.Service,
		SignedHeaders: strings.Split(in.SignedHeaders(), ";"),
		Signature:     Signature(secretKey, in),
	}.String()
}

// Equal reports whether two hex signatures are equal, in constant time.
func Equal(a, b string) bool {
	return hmac.Equal([]byte(a), []byte(b))
}

func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// Authorization is a parsed TC3 Authorization header.
type Authorization struct {
	SecretID      string
	Date          string // credential scope date
	Service       string // credential scope service
	SignedHeaders []string
	Signature     string
}

// String formats a as an Authorization header value.
func (a Authorization) String() string {
	return fmt.Sprintf("%s Credential=%s/%s/%s/tc3_request, SignedHeaders=%s, Signature=%s",
		Algorithm, a.SecretID, a.Date, a.Service, strings.Join(a.SignedHeaders, ";"), a.Signature)
}

// ErrMalformed is wrapped by every ParseAuthorization error.
var ErrMalformed = errors.New("malformed TC3 Authorization header")

// ParseAuthorization parses "TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request,
// SignedHeaders=a;b, Signature=HEX".
func ParseAuthorization(v string) (Authorization, error) {
	var a Authorization
	alg, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || alg != Algorithm {
		return a, fmt.Errorf("%w: algorithm must be %s", ErrMalformed, Algorithm)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return a, fmt.Errorf("%w: bad element %q", ErrMalformed, clip(part))
		}
		if _, dup := fields[k]; dup {
			return a, fmt.Errorf("%w: %s given twice", ErrMalformed, k)
		}
		fields[k] = val
	}
	if err := a.setCredential(fields["Credential"]); err != nil {
		return a, err
	}
	if err := a.setSignedHeaders(fields["SignedHeaders"]); err != nil {
		return a, err
	}
	a.Signature = fields["Signature"]
	if !isLowerHex(a.Signature, 64) {
		return a, fmt.Errorf("%w: Signature must be 64 lower-case hex digits", ErrMalformed)
	}
	if len(fields) != 3 {
		return a, fmt.Errorf("%w: want exactly Credential, SignedHeaders and Signature", ErrMalformed)
	}
	return a, nil
}

func (a *Authorization) setCredential(c string) error {
	p := strings.Split(c, "/")
	if len(p) != 4 || p[0] == "" || p[2] == "" || p[3] != "tc3_request" {
		return fmt.Errorf("%w: Credential must be SecretId/Date/Service/tc3_request", ErrMalformed)
	}
	if _, err := time.Parse("2006-01-02", p[1]); err != nil {
		return fmt.Errorf("%w: Credential date %q is not YYYY-MM-DD", ErrMalformed, clip(p[1]))
	}
	a.SecretID, a.Date, a.Service = p[0], p[1], p[2]
	return nil
}

func (a *Authorization) setSignedHeaders(s string) error {
	if s == "" {
		return fmt.Errorf("%w: SignedHeaders is empty", ErrMalformed)
	}
	names := strings.Split(s, ";")
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || n != strings.ToLower(n) || strings.ContainsAny(n, " \t:") || seen[n] {
			return fmt.Errorf("%w: bad SignedHeaders entry %q", ErrMalformed, clip(n))
		}
		seen[n] = true
	}
	if !seen["host"] || !seen["content-type"] {
		return fmt.Errorf("%w: SignedHeaders must include content-type and host", ErrMalformed)
	}
	a.SignedHeaders = names
	return nil
}

// FromRequest builds the Input that a's signature must cover, reading the
// signed headers from r (host from r.Host), the timestamp from
// X-TC-Timestamp's already-parsed value and the payload hash from body
// (or UNSIGNED-PAYLOAD when X-TC-Content-SHA256 asks for it).
func FromRequest(r *http.Request, body []byte, a Authorization, timestamp int64) Input {
	in := Input{
		Method:    r.Method,
		URI:       "/",
		Query:     canonicalQuery(r),
		Timestamp: timestamp,
		Service:   a.Service,
	}
	for _, n := range a.SignedHeaders {
		v := r.Header.Get(n)
		if n == "host" {
			v = r.Host
		}
		in.Headers = append(in.Headers, Header{Name: n, Value: v})
	}
	if r.Header.Get("X-TC-Content-SHA256") == UnsignedPayload {
		in.PayloadHash = HashPayload([]byte(UnsignedPayload))
	} else {
		in.PayloadHash = HashPayload(body)
	}
	return in
}

// canonicalQuery is the GET query string sorted by key; POST has none.
func canonicalQuery(r *http.Request) string {
	if r.Method != http.MethodGet || r.URL.RawQuery == "" {
		return ""
	}
	parts := strings.Split(r.URL.RawQuery, "&")
	sort.Strings(parts)
	return strings.Join(parts, "&")
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
