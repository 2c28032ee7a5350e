package cos

import (
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
)

// Error is a COS XML API error answer.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func cosErr(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func errAccessDenied(format string, args ...any) *Error {
	return cosErr(http.StatusForbidden, "AccessDenied", format, args...)
}
func errInvalidHost(h string) *Error {
	return cosErr(http.StatusBadRequest, "InvalidURI", "host %q is not <bucket>.cos.<region>.myqcloud.com", h)
}
func errNotImplemented(method string) *Error {
	return cosErr(http.StatusNotImplemented, "NotImplemented", "%s on this resource is not implemented by the emulator", method)
}
func errNoSuchKey() *Error {
	return cosErr(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
}
func errNoSuchUpload() *Error {
	return cosErr(http.StatusNotFound, "NoSuchUpload", "The specified multipart upload does not exist.")
}
func errMalformedXML(format string, args ...any) *Error {
	return cosErr(http.StatusBadRequest, "MalformedXML", format, args...)
}
func errInvalidArgument(format string, args ...any) *Error {
	return cosErr(http.StatusBadRequest, "InvalidArgument", format, args...)
}
func errInternal(err error) *Error {
	return cosErr(http.StatusInternalServerError, "InternalError", "%v", err)
}

type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource"`
	RequestID string   `xml:"RequestId"`
	TraceID   string   `xml:"TraceId"`
}

// fail writes err as a COS XML error; non-*Error values become InternalError.
func (s *Server) fail(rq *request, err error) {
	var ce *Error
	if !errors.As(err, &ce) {
		ce = errInternal(err)
	}
	s.stats.failure(rq.op, ce.Code)
	level := slogLevel(ce.Status)
	s.log.Log(rq.r.Context(), level, "cos request failed", "op", rq.op, "bucket", rq.bucket,
		"key", rq.key, "status", ce.Status, "code", ce.Code, "message", ce.Message, "request_id", rq.id)
	body, _ := xml.Marshal(errorBody{Code: ce.Code, Message: ce.Message,
		Resource: rq.r.Host + rq.r.URL.Path, RequestID: rq.id, TraceID: rq.id})
	out := append([]byte(xml.Header), body...)
	h := rq.w.Header()
	for _, k := range []string{"ETag", "Last-Modified", "x-cos-hash-crc64ecma", "Content-Range", "Accept-Ranges"} {
		h.Del(k)
	}
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	rq.w.WriteHeader(ce.Status)
	if rq.r.Method != http.MethodHead {
		_, _ = rq.w.Write(out)
	}
}

func slogLevel(status int) slog.Level {
	if status >= 500 {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}
