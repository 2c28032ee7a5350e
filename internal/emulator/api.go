package emulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"

	"github.com/vodwatchd/vodwatchd/internal/emulator/legacysign"
	"github.com/vodwatchd/vodwatchd/internal/emulator/tc3"
)

// APIVersion is the only VOD API version the emulator speaks.
const APIVersion = "2018-07-17"

// maxSkew is how far X-TC-Timestamp may be from the server's clock.
const maxSkew = 5 * time.Minute

// apiError is an API 3.0 error: {"Error":{"Code","Message"}}.
type apiError struct {
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newAPIError(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// caller is an authenticated API request.
type caller struct {
	acct *account
	ctx  context.Context // the request's: a long poll ends with it
}

type actionFunc func(c *caller, body []byte) (any, *apiError)

// apiAction is one API action: what runs it, and its request model (a nil
// pointer to the parameters struct) for form-encoded parameters.
type apiAction struct {
	run   actionFunc
	model any
}

func (e *Emulator) actions() map[string]apiAction {
	return map[string]apiAction{
		// describe.go: the account as check --online asks about it
		"DescribeSubAppIds":          {e.describeSubAppIds, (*vod.DescribeSubAppIdsRequestParams)(nil)},
		"DescribeProcedureTemplates": {e.describeProcedureTemplates, (*vod.DescribeProcedureTemplatesRequestParams)(nil)},
		"DescribeAllClass":           {e.describeAllClass, (*vod.DescribeAllClassRequestParams)(nil)},
		"DescribeStorageRegions":     {e.describeStorageRegions, (*vod.DescribeStorageRegionsRequestParams)(nil)},

		"ApplyUpload":            {e.applyUpload, (*vod.ApplyUploadRequestParams)(nil)},
		"CommitUpload":           {e.commitUpload, (*vod.CommitUploadRequestParams)(nil)},
		"ParseStreamingManifest": {e.parseStreamingManifest, (*vod.ParseStreamingManifestRequestParams)(nil)},
		"DescribeMediaInfos":     {e.describeMediaInfos, (*vod.DescribeMediaInfosRequestParams)(nil)},
		"SearchMedia":            {e.searchMedia, (*vod.SearchMediaRequestParams)(nil)},
		"DeleteMedia":            {e.deleteMedia, (*vod.DeleteMediaRequestParams)(nil)},
	}
}

// apiRequest is an API call read from either signature form: TC3 (headers,
// JSON body or GET query) or the legacy v1 (every parameter in the form).
type apiRequest struct {
	action, version string
	json            []byte            // JSON parameters (TC3 POST)
	form            map[string]string // form parameters, common ones removed (legacy, TC3 GET)
	auth            func() (*account, *apiError)
	ctx             context.Context
}

// serveAPI answers one VOD API 3.0 request: always HTTP 200 with JSON.
func (e *Emulator) serveAPI(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	action, result, aerr := e.callAPI(r)
	if aerr != nil {
		e.counters.apiError(aerr.Code)
		e.logger.Info("api error", "action", clipName(action), "code", aerr.Code, "message", aerr.Message)
		e.writeError(w, aerr)
		return
	}
	e.writeResult(w, result)
}

func (e *Emulator) callAPI(r *http.Request) (string, any, *apiError) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return "", nil, newAPIError("UnsupportedOperation", "The API accepts POST (JSON or form-encoded) and GET requests, not %s.", clipName(r.Method))
	}
	body, aerr := e.readAPIBody(r)
	if aerr != nil {
		return "", nil, aerr
	}
	var req *apiRequest
	if isLegacy(r) {
		req, aerr = e.legacyRequest(r, body)
	} else {
		req, aerr = e.tc3Request(r, body)
	}
	if aerr != nil {
		return "", nil, aerr
	}
	req.ctx = r.Context()
	result, aerr := e.run(req)
	return req.action, result, aerr
}

// isLegacy: a request without a TC3 Authorization header that carries its
// parameters in a form (GET query or form-encoded POST) uses signature v1.
func isLegacy(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return false
	}
	return r.Method == http.MethodGet || isForm(r)
}

func isForm(r *http.Request) bool {
	ct := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Type")))
	return strings.HasPrefix(ct, "application/x-www-form-urlencoded")
}

// run checks the action and version, authenticates and runs the action.
func (e *Emulator) run(req *apiRequest) (any, *apiError) {
	if req.action == "" {
		return nil, newAPIError("MissingParameter", "The request is missing the required parameter `Action`.")
	}
	switch req.version {
	case APIVersion:
	case "":
		return nil, newAPIError("MissingParameter", "The request is missing the required parameter `Version`.")
	default:
		return nil, newAPIError("NoSuchVersion", "The API version `%s` does not exist; vod speaks %s.", clipName(req.version), APIVersion)
	}
	act, ok := e.actions()[req.action]
	if !ok {
		act, ok = e.flowActions()[req.action]
	}
	if !ok {
		return nil, newAPIError("InvalidAction", "The action `%s` does not exist or is not supported by the emulator.", clipName(req.action))
	}
	acct, aerr := req.auth()
	if aerr != nil {
		return nil, aerr
	}
	body := req.json
	if req.form != nil {
		if body, aerr = formToJSON(req.form, act.model); aerr != nil {
			return nil, aerr
		}
	}
	if !e.limits.allow(req.action, e.now()) {
		return nil, newAPIError("RequestLimitExceeded", "The request rate of %s exceeds the limit of %d requests per second.", req.action, e.cfg.APIRateLimit)
	}
	return act.run(&caller{acct: acct, ctx: req.ctx}, body)
}

// tc3Request reads a TC3-signed request: common parameters in X-TC-*
// headers, action parameters in a JSON body (POST) or the query (GET).
func (e *Emulator) tc3Request(r *http.Request, body []byte) (*apiRequest, *apiError) {
	req := &apiRequest{action: r.Header.Get("X-TC-Action"), version: r.Header.Get("X-TC-Version"), json: body}
	if r.Method == http.MethodPost {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
			return nil, newAPIError("InvalidParameter", "Content-Type must be application/json (TC3 signature) or application/x-www-form-urlencoded (signature v1 parameters), got %q.", clipName(ct))
		}
	} else {
		form, aerr := parseForm(r.URL.RawQuery)
		if aerr != nil {
			return nil, aerr
		}
		req.form = form
	}
	if aerr := checkLanguage(r.Header.Get("X-TC-Language")); aerr != nil {
		return nil, aerr
	}
	if aerr := checkAPIRegion(r.Header.Get("X-TC-Region")); aerr != nil {
		return nil, aerr
	}
	req.auth = func() (*account, *apiError) { return e.authenticate(r, body) }
	return req, nil
}

// maxFormParams bounds the parameters of a form-encoded request.
const maxFormParams = 1000

func parseForm(raw string) (map[string]string, *apiError) {
	form, err := legacysign.ParseParams(raw, maxFormParams)
	if err != nil {
		return nil, newAPIError("InvalidParameter", "The request parameters could not be decoded: %v.", err)
	}
	return form, nil
}

// checkAPIRegion: the API access region is optional for VOD, but when given
// it must be a region name.
func checkAPIRegion(v string) *apiError {
	if v == "" || regionRE.MatchString(v) {
		return nil
	}
	return newAPIError("UnsupportedRegion", "The region `%s` is not supported.", clipName(v))
}

func checkLanguage(v string) *apiError {
	switch v {
	case "", "zh-CN", "en-US":
		return nil
	}
	return newAPIError("InvalidParameterValue", "Language `%s` must be zh-CN or en-US.", clipName(v))
}

func (e *Emulator) readAPIBody(r *http.Request) ([]byte, *apiError) {
	if r.ContentLength > e.cfg.MaxAPIBodyBytes {
		return nil, newAPIError("RequestSizeLimitExceeded", "The request body of %d bytes exceeds the limit of %d bytes.", r.ContentLength, e.cfg.MaxAPIBodyBytes)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, e.cfg.MaxAPIBodyBytes+1))
	if err != nil {
		return nil, newAPIError("InvalidParameter", "The request body could not be read: %v.", err)
	}
	if int64(len(body)) > e.cfg.MaxAPIBodyBytes {
		return nil, newAPIError("RequestSizeLimitExceeded", "The request body exceeds the limit of %d bytes.", e.cfg.MaxAPIBodyBytes)
	}
	return body, nil
}

// authenticate verifies the TC3 signature like the service does.
func (e *Emulator) authenticate(r *http.Request, body []byte) (*account, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, newAPIError("AuthFailure.InvalidAuthorization", "The Authorization header is missing.")
	}
	a, err := tc3.ParseAuthorization(h)
	if err != nil {
		return nil, newAPIError("AuthFailure.InvalidAuthorization", "%v", err)
	}
	ts, aerr := e.checkTimestamp(r.Header.Get("X-TC-Timestamp"))
	if aerr != nil {
		return nil, aerr
	}
	cred, ok := e.accounts.lookup(a.SecretID)
	if !ok {
		return nil, newAPIError("AuthFailure.SecretIdNotFound", "The SecretId is not found; check that it exists and is enabled.")
	}
	if a.Service != "vod" || a.Date != tc3.Date(ts) {
		return nil, newAPIError("AuthFailure.SignatureFailure", "The credential scope %s/%s does not match service vod and the date of X-TC-Timestamp (%s).", clipName(a.Date), clipName(a.Service), tc3.Date(ts))
	}
	if !tc3.Equal(tc3.Signature(cred.secretKey, tc3.FromRequest(r, body, a, ts)), a.Signature) {
		return nil, newAPIError("AuthFailure.SignatureFailure", "The provided credentials could not be validated; check your signature is correct.")
	}
	if aerr := e.checkToken(cred, r.Header.Get("X-TC-Token")); aerr != nil {
		return nil, aerr
	}
	e.counters.signed(tc3.Algorithm)
	return cred.acct, nil
}

func (e *Emulator) checkTimestamp(v string) (int64, *apiError) {
	if v == "" {
		return 0, newAPIError("MissingParameter", "The request is missing the required parameter `Timestamp`.")
	}
	ts, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ts <= 0 {
		return 0, newAPIError("InvalidParameter", "Timestamp %q is not a Unix time in seconds.", clipName(v))
	}
	skew := e.now().Sub(time.Unix(ts, 0))
	if skew > maxSkew || skew < -maxSkew {
		return 0, newAPIError("AuthFailure.SignatureExpire", "The signature expired: Timestamp %d is %s from the server time.", ts, skew.Round(time.Second))
	}
	return ts, nil
}

// checkToken: temporary keys need their token, unexpired; permanent keys
// take none.
func (e *Emulator) checkToken(cred credential, token string) *apiError {
	if cred.token == "" {
		if token != "" {
			return newAPIError("AuthFailure.TokenFailure", "A token was sent with a permanent SecretId.")
		}
		return nil
	}
	if token == "" || !tc3.Equal(token, cred.token) {
		return newAPIError("AuthFailure.TokenFailure", "The token of the temporary credentials is missing or wrong.")
	}
	if !e.now().Before(cred.expires) {
		return newAPIError("AuthFailure.TokenFailure", "The temporary credentials expired at %s.", cred.expires.UTC().Format(time.RFC3339))
	}
	return nil
}

func (e *Emulator) writeError(w http.ResponseWriter, aerr *apiError) {
	e.writeJSON(w, map[string]any{"Error": map[string]string{"Code": aerr.Code, "Message": aerr.Message}, "RequestId": newRequestID()})
}

// writeResult adds RequestId to the action's result object.
func (e *Emulator) writeResult(w http.ResponseWriter, result any) {
	b, err := json.Marshal(result)
	fields := map[string]json.RawMessage{}
	if err == nil {
		err = json.Unmarshal(b, &fields)
	}
	if err != nil {
		e.writeError(w, newAPIError("InternalError", "encoding the response failed"))
		return
	}
	id, _ := json.Marshal(newRequestID())
	fields["RequestId"] = id
	e.writeJSON(w, fields)
}

func (e *Emulator) writeJSON(w http.ResponseWriter, resp any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(map[string]any{"Response": resp})
}

// decodeParams decodes a JSON object into dst (a pointer to a struct with
// json tags) the way the service does: every key must be a parameter of
// the action (exact case), and each value must have the parameter's type.
func decodeParams(body []byte, dst any) *apiError {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return newAPIError("InvalidParameter", "The request body is not a valid JSON object: %s.", jsonProblem(err))
	}
	known := jsonFields(dst)
	for k := range fields {
		if !known[k] {
			return newAPIError("UnknownParameter", "The parameter `%s` is not recognized.", clipName(k))
		}
	}
	if err := json.Unmarshal(body, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return newAPIError("InvalidParameter", "The parameter `%s` has the wrong type: want %s, got %s.", te.Field, te.Type, te.Value)
		}
		return newAPIError("InvalidParameter", "The request body could not be decoded: %s.", jsonProblem(err))
	}
	return nil
}

func jsonProblem(err error) string {
	if err == nil {
		return "not an object"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	return clipName(err.Error())
}

// jsonFields lists the json names of the fields of *struct v.
func jsonFields(v any) map[string]bool {
	t := reflect.TypeOf(v).Elem()
	out := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

// newRequestID returns a random UUID-shaped request id.
func newRequestID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// randomString returns n characters from alphabet, uniformly.
func randomString(n int, alphabet string) string {
	out := make([]byte, n)
	b := randomBytes(n)
	for i := range out {
		// 256 is not a multiple of every alphabet size; the bias is
		// irrelevant for emulator credentials but keep it small anyway.
		out[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(out)
}

const (
	alnum    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	lowerHex = "0123456789abcdef"
)

// clipName bounds what the emulator echoes from a request.
func clipName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
