// Package legacysign signs and verifies Tencent Cloud API 3.0 requests with
// signature v1: an HMAC (HmacSHA1 or HmacSHA256) over the HTTP method, host,
// path and every parameter sorted by name, sent as a form-encoded GET query
// or POST body together with the parameters.
package legacysign

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// Signature methods. The service verifies with HmacSHA256 only when
// SignatureMethod says so, and with HmacSHA1 otherwise (also when absent).
const (
	HmacSHA1   = "HmacSHA1"
	HmacSHA256 = "HmacSHA256"
)

// Parameter names that the signature scheme itself uses.
const (
	ParamSignature       = "Signature"
	ParamSignatureMethod = "SignatureMethod"
	ParamSecretID        = "SecretId"
	ParamTimestamp       = "Timestamp"
	ParamNonce           = "Nonce"
	ParamToken           = "Token"
)

// StringToSign is method + host + path + "?" + name=value pairs joined by
// "&", sorted by name (byte order), values as sent (not URL-encoded), the
// Signature parameter left out.
func StringToSign(method, host, path string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != ParamSignature {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(strings.ToUpper(method))
	b.WriteString(host)
	b.WriteString(path)
	b.WriteByte('?')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k])
	}
	return b.String()
}

// Signature is the base64 HMAC of stringToSign with secretKey: HmacSHA256
// when method is HmacSHA256, HmacSHA1 for anything else.
func Signature(secretKey, method, stringToSign string) string {
	newHash := sha1.New
	if method == HmacSHA256 {
		newHash = func() hash.Hash { return sha256.New() }
	}
	m := hmac.New(newHash, []byte(secretKey))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign sets SecretId, SignatureMethod (and Token when not empty) in params
// and then their Signature, like the SDKs do.
func Sign(params map[string]string, method, host, path, secretID, secretKey, token, signatureMethod string) {
	params[ParamSecretID] = secretID
	params[ParamSignatureMethod] = signatureMethod
	if token != "" {
		params[ParamToken] = token
	}
	delete(params, ParamSignature)
	params[ParamSignature] = Signature(secretKey, signatureMethod, StringToSign(method, host, path, params))
}

// Equal compares two signatures in constant time.
func Equal(a, b string) bool {
	return hmac.Equal([]byte(a), []byte(b))
}

// Encode form-encodes params (sorted by name), for a query or a POST body.
func Encode(params map[string]string) string {
	v := url.Values{}
	for k, s := range params {
		v.Set(k, s)
	}
	return v.Encode()
}

// ErrMalformed is wrapped by every ParseParams error.
var ErrMalformed = errors.New("malformed form-encoded parameters")

// ParseParams decodes a form-encoded query or body ("a=1&b=x%20y") into
// name -> value. Empty pieces ("a=1&&b=2") are skipped; a name given twice,
// an empty name, a bad %-escape, text that is not UTF-8, a control
// character in a name, or more than maxParams parameters are errors.
func ParseParams(raw string, maxParams int) (map[string]string, error) {
	out := map[string]string{}
	for raw != "" {
		var piece string
		piece, raw, _ = strings.Cut(raw, "&")
		if piece == "" {
			continue
		}
		if len(out) >= maxParams {
			return nil, fmt.Errorf("%w: more than %d parameters", ErrMalformed, maxParams)
		}
		k, v, _ := strings.Cut(piece, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("%w: parameter name %q: bad %%-escape", ErrMalformed, clip(k))
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("%w: parameter %q: bad %%-escape in its value", ErrMalformed, clip(name))
		}
		if err := checkParam(name, value); err != nil {
			return nil, err
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%w: parameter %q given twice", ErrMalformed, clip(name))
		}
		out[name] = value
	}
	return out, nil
}

func checkParam(name, value string) error {
	if name == "" {
		return fmt.Errorf("%w: a parameter has no name", ErrMalformed)
	}
	if !utf8.ValidString(name) || !utf8.ValidString(value) {
		return fmt.Errorf("%w: parameter %q is not UTF-8", ErrMalformed, clip(strings.ToValidUTF8(name, "?")))
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: parameter name %q has a control character", ErrMalformed, clip(name))
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
