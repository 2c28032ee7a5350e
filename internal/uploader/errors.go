package uploader

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/vodwatchd/vodwatchd/internal/fileid"

	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentyun/cos-go-sdk-v5"
)

// ErrCommitUnknown reports that CommitUpload was sent but its outcome is
// unknown (the connection broke after the request left, or the service
// failed in a way that may have applied it). The upload must not be redone
// blindly: the caller settles it, for example with Uploader.Commit, which
// repeats CommitUpload for the same session key.
var ErrCommitUnknown = errors.New("CommitUpload outcome unknown")

// ErrFileChanged means a local file is no longer the one the upload was
// planned for (rewritten, replaced, or swapped for a symlink).
var ErrFileChanged = fileid.ErrChanged

// Error is a failed call to VOD or COS, carrying what the service said.
type Error struct {
	Op         string // "ApplyUpload", "PutObject", "UploadPart", "CommitUpload", ...
	Code       string // service error code, e.g. "InvalidParameterValue.MediaType"
	Message    string // service message, scrubbed of secrets
	RequestID  string // service request id, when known
	HTTPStatus int    // HTTP status, when known
	Retryable  bool   // whether a retry may succeed
	Err        error  // underlying transport error (never carries a secret), if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Code != "" {
		b.WriteString(e.Code)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.RequestID != "" {
		b.WriteString(" (RequestId ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// scrubber removes secrets from text that may have come from an SDK.
type scrubber struct{ secrets []string }

var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)(q-signature=)[0-9a-f]+`),
	regexp.MustCompile(`(?i)(Signature=)[0-9a-zA-Z%+/=]+`),
	regexp.MustCompile(`(?i)(x-cos-security-token["']?\s*[:=]\s*\[?["']?)[^"'\s&,\]]+`),
	regexp.MustCompile(`(?i)(x-tc-token["']?\s*[:=]\s*\[?["']?)[^"'\s&,\]]+`),
	regexp.MustCompile(`(?i)("?(?:Tmp)?(?:SecretKey|Token|SessionToken)"?\s*[:=]\s*"?)[^",\s&}]+`),
}

func (s *scrubber) add(secrets ...string) {
	for _, v := range secrets {
		if len(v) >= 4 {
			s.secrets = append(s.secrets, v)
		}
	}
}

func (s *scrubber) scrub(text string) string {
	if s != nil {
		for _, v := range s.secrets {
			text = strings.ReplaceAll(text, v, "***")
		}
	}
	for _, re := range secretPatterns {
		text = re.ReplaceAllString(text, "${1}***")
	}
	return text
}

// classify turns any error from a VOD or COS call into an *Error (or returns
// the context's error when the call was cancelled).
func (s *scrubber) classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, ErrFileChanged) {
		// The local file changed under the request (exactReader): not a
		// network failure, and never retried.
		return fmt.Errorf("%s: %w", op, err)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", op, context.Canceled)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, context.DeadlineExceeded)
	}
	var sdkErr *tcerr.TencentCloudSDKError
	if errors.As(err, &sdkErr) {
		return s.fromTencentCloud(op, sdkErr)
	}
	var retryErr *cos.RetryError
	if errors.As(err, &retryErr) && len(retryErr.Errs) > 0 {
		return s.classify(op, retryErr.Errs[len(retryErr.Errs)-1])
	}
	var cosErr *cos.ErrorResponse
	if errors.As(err, &cosErr) {
		return s.fromCOS(op, cosErr)
	}
	return &Error{Op: op, Code: "NetworkError", Message: s.scrub(err.Error()), Retryable: true, Err: err}
}

func (s *scrubber) fromTencentCloud(op string, e *tcerr.TencentCloudSDKError) *Error {
	out := &Error{Op: op, Code: e.Code, Message: s.scrub(e.Message), RequestID: e.RequestId}
	switch {
	case e.Code == "ClientError.NetworkError":
		out.Code = "NetworkError"
		if cause := e.Unwrap(); cause != nil {
			out.Message = s.scrub(cause.Error())
			out.Err = cause
		}
		out.Retryable = true
	case e.Code == "ClientError.HttpStatusCodeError":
		out.HTTPStatus = statusFromMessage(e.Message)
		out.Retryable = out.HTTPStatus >= 500 || out.HTTPStatus == http.StatusTooManyRequests
		out.Message = s.scrub(truncate(e.Message, 300))
	case e.Code == "ClientError.IOError":
		out.Retryable = true
	default:
		out.Retryable = retryableCode(e.Code)
	}
	return out
}

func (s *scrubber) fromCOS(op string, e *cos.ErrorResponse) *Error {
	out := &Error{Op: op, Code: e.Code, Message: s.scrub(e.Message), RequestID: e.RequestID}
	if e.Response != nil {
		out.HTTPStatus = e.Response.StatusCode
		if out.RequestID == "" {
			out.RequestID = e.Response.Header.Get("X-Cos-Request-Id")
		}
	}
	if out.Code == "" {
		out.Code = "HTTP" + strconv.Itoa(out.HTTPStatus)
	}
	if out.Message == "" {
		out.Message = http.StatusText(out.HTTPStatus)
	}
	out.Retryable = out.HTTPStatus >= 500 || out.HTTPStatus == http.StatusTooManyRequests ||
		retryableCode(out.Code) || out.Code == "SlowDown"
	return out
}

// retryableCode reports whether a service error code names a transient
// failure: internal errors and throttling.
func retryableCode(code string) bool {
	return code == "InternalError" || strings.HasPrefix(code, "InternalError.") ||
		strings.HasPrefix(code, "RequestLimitExceeded") ||
		code == "ServiceUnavailable" || code == "ResourceUnavailable"
}

var statusRe = regexp.MustCompile(`status code: (\d{3})`)

func statusFromMessage(msg string) int {
	m := statusRe.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// commitNotApplied reports whether a failed CommitUpload certainly did not
// take effect, so that sending it again cannot create a second copy.
func commitNotApplied(e *Error) bool {
	if strings.HasPrefix(e.Code, "RequestLimitExceeded") || e.HTTPStatus == http.StatusTooManyRequests {
		return true
	}
	var op *net.OpError
	return e.Err != nil && errors.As(e.Err, &op) && op.Op == "dial"
}

// CommitUnknownError wraps ErrCommitUnknown with the session it concerns.
type CommitUnknownError struct {
	SessionKey string
	Err        error // what made the outcome unknown
}

func (e *CommitUnknownError) Error() string {
	return fmt.Sprintf("%v for session %s: %v", ErrCommitUnknown, e.SessionKey, e.Err)
}

func (e *CommitUnknownError) Is(target error) bool { return target == ErrCommitUnknown }
func (e *CommitUnknownError) Unwrap() error        { return e.Err }
