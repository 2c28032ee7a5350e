package emulator

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/vodwatchd/vodwatchd/internal/emulator/legacysign"
)

// legacyCommon are the common parameters of signature v1 requests; they
// are not parameters of the action.
var legacyCommon = []string{
	"Action", "Version", "Region", "Timestamp", "Nonce", "SecretId", "SignatureMethod",
	"Signature", "Token", "Language", "RequestClient",
}

// legacyRequest reads a signature v1 request: every parameter, common ones
// included, in the GET query or the form-encoded POST body.
func (e *Emulator) legacyRequest(r *http.Request, body []byte) (*apiRequest, *apiError) {
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost {
		raw = string(body)
	}
	form, aerr := parseForm(raw)
	if aerr != nil {
		return nil, aerr
	}
	common := map[string]string{}
	for _, k := range legacyCommon {
		if v, ok := form[k]; ok {
			common[k] = v
		}
	}
	if aerr := checkLanguage(common["Language"]); aerr != nil {
		return nil, aerr
	}
	if aerr := checkAPIRegion(common["Region"]); aerr != nil {
		return nil, aerr
	}
	signed := form
	params := make(map[string]string, len(form))
	for k, v := range form {
		if _, isCommon := common[k]; !isCommon {
			params[k] = v
		}
	}
	req := &apiRequest{action: common["Action"], version: common["Version"], form: params}
	req.auth = func() (*account, *apiError) { return e.legacyAuthenticate(r, signed) }
	return req, nil
}

// legacyAuthenticate verifies a signature v1 like the service does, with
// the AuthFailure codes of TC3.
func (e *Emulator) legacyAuthenticate(r *http.Request, form map[string]string) (*account, *apiError) {
	id, sig := form[legacysign.ParamSecretID], form[legacysign.ParamSignature]
	if id == "" {
		return nil, newAPIError("AuthFailure.InvalidAuthorization", "The request is missing the required parameter `SecretId` (or a TC3 Authorization header).")
	}
	if sig == "" {
		return nil, newAPIError("AuthFailure.InvalidAuthorization", "The request is missing the required parameter `Signature`.")
	}
	if aerr := checkNonce(form[legacysign.ParamNonce]); aerr != nil {
		return nil, aerr
	}
	if _, aerr := e.checkTimestamp(form[legacysign.ParamTimestamp]); aerr != nil {
		return nil, aerr
	}
	cred, ok := e.accounts.lookup(id)
	if !ok {
		return nil, newAPIError("AuthFailure.SecretIdNotFound", "The SecretId is not found; check that it exists and is enabled.")
	}
	toSign := legacysign.StringToSign(r.Method, r.Host, r.URL.Path, form)
	if !legacysign.Equal(legacysign.Signature(cred.secretKey, form[legacysign.ParamSignatureMethod], toSign), sig) {
		return nil, newAPIError("AuthFailure.SignatureFailure", "The provided credentials could not be validated; check your signature is correct.")
	}
	if aerr := e.checkToken(cred, form[legacysign.ParamToken]); aerr != nil {
		return nil, aerr
	}
	method := legacysign.HmacSHA1
	if form[legacysign.ParamSignatureMethod] == legacysign.HmacSHA256 {
		method = legacysign.HmacSHA256
	}
	e.counters.signed(method)
	return cred.acct, nil
}

// checkNonce: a non-negative integer (the Node SDK draws 0..65535).
func checkNonce(v string) *apiError {
	if v == "" {
		return newAPIError("MissingParameter", "The request is missing the required parameter `Nonce`.")
	}
	if _, err := strconv.ParseUint(v, 10, 64); err != nil {
		return newAPIError("InvalidParameter", "Nonce %q is not a positive integer.", clipName(v))
	}
	return nil
}

// legacyAction names the action of a signature v1 request for the stats
// and the fault injector: from the GET query, or from the form-encoded
// body, which it reads (up to the API body cap) and puts back for the
// handler. "" when r is not such a request.
func (e *Emulator) legacyAction(r *http.Request) string {
	if !isLegacy(r) {
		return ""
	}
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost && r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, e.cfg.MaxAPIBodyBytes+1))
		rest := io.Reader(r.Body)
		if err != nil {
			rest = errReader{err}
		}
		r.Body = readCloser{io.MultiReader(bytes.NewReader(b), rest), r.Body}
		raw = string(b)
	}
	form, err := legacysign.ParseParams(raw, maxFormParams)
	if err != nil {
		return ""
	}
	return form["Action"]
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
